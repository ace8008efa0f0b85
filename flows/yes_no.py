"""The general yes and no, and what turns a question's own words over.

:func:`parse_yes_no` reads a yes, a no or a hesitation in any answer; a question's own ways of
saying yes or no (``flows.own_words``) are read first, in the same pass. The shared rules of the
readers live here too: a question back (:func:`asks_back`), two hits near each other
(:func:`is_near`), the wider negators (:data:`WIDE_NEGATORS`). Typo tolerance and negation:
``flows.parsing``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from flows.text import _MAX_SCAN, KNOWN_WORDS, _Hit, _keyword_tokens, _Matcher

YES_NO: Final = _Matcher(
    {
        "yes": (
            "oui", "ouii", "ouais", "ouai", "ouep", "ouaip", "ui", "wi", "oue", "ok", "okay", "okey",
            "oki", "okok", "d accord", "dac", "bien sur", "bien sur que oui", "mais oui",
            "absolument", "exact", "exactement", "c est exact", "tout a fait", "volontiers",
            "avec plaisir", "je confirme", "confirme", "je valide", "c est ca", "c est bien ca",
            "c est correct", "correct", "ca marche", "ca me va", "parfait", "tres bien", "entendu",
            "bien entendu", "carrement", "evidemment", "certainement", "affirmatif",
            "aucun probleme", "aucun souci", "pas de probleme", "pas de souci", "sans probleme",
            "sans souci", "nickel", "impeccable", "yes", "yeah", "yep", "yup",
            "sure", "of course", "absolutely", "definitely", "certainly", "exactly",
            "that s right", "alright", "all right", "i confirm", "no problem", "yes please",
            # confirmations in a hurry
            "valide", "validee", "valider", "validez", "c est valide", "go", "on y va", "allez y",
            "vas y", "c est tout bon", "tout bon", "tout est bon", "tout est correct",
            "tout est ok", "c parfait", "c nickel", "super", "top", "genial", "impec", "ca roule",
            "ca me convient", "ca convient", "c est bien", "c est parfait", "c est good", "d acc",
            "tout est juste", "tout est exact", "c est juste",
            "je suis sur", "je suis sure", "c est sur", "sur et certain", "i m sure",
            "rien a changer", "rien a modifier", "rien a corriger", "nothing to change", "we",
            "great", "perfect", "looks good", "all good", "sounds good", "good to go", "fine by me",
            "go ahead", "confirmed", "all fine",
        ),
        "no": (
            "non", "nan", "nn", "nope", "no", "nah", "non merci", "je pense pas", "je crois pas",
            "je ne pense pas", "je ne crois pas", "pas vraiment", "pas du tout",
            "absolument pas", "surtout pas", "pas question", "hors de question", "jamais",
            "jamais de la vie", "aucun", "aucune", "pas d accord", "pas ok", "negatif",
            "bien sur que non", "mais non", "c est pas ca", "ce n est pas ca", "pas ca",
            "ca marche pas", "ca me va pas", "c est pas bon", "pas besoin", "no thanks",
            "no thank you", "not really", "not at all", "never", "no way", "not ok",
            "don t think so", "i don t", "negative",
            # polite refusals
            "pas la peine", "ca ira", "non ca ira", "non ca va", "nan ca va", "plutot pas",
            "plutot non", "je prefere pas", "je prefere ne pas", "finalement non", "non non",
            "c est non", "rather not", "i d rather not", "no need", "not needed", "i m good", "no thank",
        ),
        # A yes by itself, the no's own just after one ("nn c bon", "no, it's fine").
        "fine": ("c est bon", "c bon", "ce bon", "c ok", "c est ok", "that s fine", "it s fine"),
        "unsure": (
            "peut etre", "bof", "je sais pas", "je ne sais pas", "sais pas", "pas sur",
            "pas sure", "pas certain", "pas certaine", "aucune idee", "je verrai",
            "on verra", "mouais", "maybe", "perhaps", "not sure", "i don t know", "dunno", "no idea",
            # a hedge ("ça dépend de ce que vous appelez urgent")
            "ca depend", "cela depend", "tout depend", "it depends", "that depends", "depends",
        ),
    }
)  # fmt: skip
_YES_EMOJI: Final = ("👍", "👌", "✅", "✔", "☑", "🆗", "🙆")
_NO_EMOJI: Final = ("👎", "❌", "✖", "🚫", "⛔", "🙅", "❎")


def parse_yes_no(text: str, own: _Matcher | None = None, *, nothing_turns: bool = False) -> bool | None:
    """True for a yes, False for a no, None when unknown or ambiguous ("oui non", "bof", "ça
    dépend").

    ``own`` holds a question's own ways of saying yes or no ("pas urgent", "j'accepte"), read
    first; the general words are read in what they leave ("I have no spare pair": no "no").
    One of its "no" negated is a yes ("je ne refuse pas"), a general "no" negated says nothing;
    one of its "no" undone just after ("mon ancienne paire est partie à la poubelle": label
    ``gone``) is a yes. Besides the usual negations (``flows.text``), one of its words is turned
    over by an "aucune" just before ("aucune paire de rechange", "aucune urgence"), by a needless
    "pas la peine de", "pas besoin de", "no need to" a few words before ("pas la peine de me
    prévenir") and, with ``nothing_turns``, by a "ne rien" just before ("ne rien effacer") or a
    "rien"/"anything" after it negated ("je ne garde rien", "don't delete anything"). A "bof"
    then a clear no is a no ("bof, pas tant que ça"). A question back ("ma demande sera annulée
    aussi ?") is no answer unless a general yes or no is in it. A "c'est bon" is a yes, but the
    no's own just after one ("nn c bon", "non merci, c'est bon", "no, it's fine")."""
    head = text[:_MAX_SCAN]
    tokens = _keyword_tokens(head)
    if tokens == ["si"]:
        return True
    if asks_back(head, tokens):
        return None
    return _verdict(head, tokens, own, nothing_turns)


def _verdict(head: str, tokens: list[str], own: _Matcher | None, nothing_turns: bool = False) -> bool | None:
    general = YES_NO.find(tokens)
    unsure = [hit for hit in general if hit.label == "unsure"]
    if unsure:  # "je sais pas trop"; but "bof, pas tant que ça" is a no
        hesitates = all(tokens[hit.start : hit.end] == ["bof"] for hit in unsure)
        rest = tokens[unsure[-1].end :]
        return False if hesitates and rest and _verdict("", rest, own, nothing_turns) is False else None
    said: list[bool] = []  # the question's own, in order
    if own is not None:
        tokens = list(tokens)
        previous: _Hit | None = None
        for hit in own.find(tokens):
            if hit.label == "unsure" or hit.doubtful:
                return None
            if hit.label != "gone" and not hit.negated:
                hit = _turned_over(tokens, hit, nothing_turns)
            if hit.label != "gone":
                said.append((hit.label == "yes") != hit.negated)
            elif previous and previous.label == "no" and not previous.negated and is_near(previous, hit):
                said[-1] = True  # the spare pair just said is none
            previous = hit
            tokens[hit.start : hit.end] = ["_"] * (hit.end - hit.start)
    verdicts = set(said)
    if own is not None:  # the general words, in what the question's own words left
        general = YES_NO.find(tokens)
    answered = False
    last: _Hit | None = None
    for hit in general:
        if hit.doubtful:
            return None
        answered = True
        said_fine_to_no = (
            hit.label == "fine"
            and last is not None
            and last.label == "no"
            and not last.negated
            and is_near(last, hit)
        )
        if hit.label in ("yes", "fine") and not said_fine_to_no:
            verdicts.add(not hit.negated)
        elif hit.label == "no" and not hit.negated:
            verdicts.add(False)
        last = hit
    if any(emoji in head for emoji in _YES_EMOJI):
        answered = True
        verdicts.add(True)
    if any(emoji in head for emoji in _NO_EMOJI):
        answered = True
        verdicts.add(False)
    if "?" in head and not answered:  # a question back of the question's own words
        return None
    return verdicts.pop() if len(verdicts) == 1 else None


def _turned_over(tokens: list[str], hit: _Hit, nothing_turns: bool) -> _Hit:
    """``hit`` negated when a determiner, a needless "pas la peine de" or (``nothing_turns``) a
    "rien" next to it says so (see :func:`parse_yes_no`); a determiner then leaves the tokens:
    "aucune" is that word's, no general "no"."""
    before = tokens[hit.start - 1] if hit.start else ""
    if before in _NONE_DETERMINERS:
        tokens[hit.start - 1] = "_"
        return replace(hit, negated=True)
    if _needless_before(tokens, hit.start) or (nothing_turns and _nothing_next(tokens, hit)):
        return replace(hit, negated=True)
    return hit


def _nothing_next(tokens: list[str], hit: _Hit) -> bool:
    """ "ne rien effacer", "je ne garde rien", "don't delete anything": a "rien" just before after
    a "ne", or a "rien"/"anything" just after with a "ne"/"n't" just before ("non rien, on
    continue" and "effacez tout, rien d'autre" say nothing of the kind)."""
    start = hit.start
    if start >= 2 and tokens[start - 1] == "rien" and tokens[start - 2] in _NE:
        return True
    return (
        hit.end < len(tokens)
        and tokens[hit.end] in _NOTHING
        and any(tokens[k] in _NE for k in range(max(0, start - 2), start))
    )


# "aucune paire de rechange": the pair is none. (Not the English "no", an answer of its own
# before a verb: "no continue", "no keep it".)
_NONE_DETERMINERS: Final = frozenset(("aucun", "aucune", "aucuns", "aucunes"))
_NOTHING: Final = frozenset(("rien", "anything"))
_NE: Final = frozenset(("ne", "n", "t"))  # "n'efface", "don't", "didn't"
# "pas la peine de me prévenir", "pas besoin d'être prévenu", "no need to tell me", "inutile de":
# what follows the link (within a few words) is not wanted.
_NEEDLESS: Final = frozenset(("peine", "besoin", "need", "necessaire", "necessary", "utile"))
_NEEDLESS_ALONE: Final = frozenset(("inutile", "pointless", "unnecessary"))
_NEEDLESS_LINKS: Final = frozenset(("de", "d", "to"))
_NEEDLESS_REACH: Final = 3


def _needless_before(tokens: list[str], start: int) -> bool:
    """A "de"/"to" a few words before, after "peine", "besoin", "need"... said with a negation
    ("pas la peine de", "plus besoin de", "no need to") or after "inutile"."""
    for link in range(start - 1, max(0, start - _NEEDLESS_REACH) - 1, -1):
        if tokens[link] in _NEEDLESS_LINKS and link > 0:
            word = tokens[link - 1]
            if word in _NEEDLESS_ALONE:
                return True
            return word in _NEEDLESS and any(
                tokens[k] in WIDE_NEGATORS for k in range(max(0, link - 4), link - 1)
            )
    return False


def is_near(first: _Hit, then: _Hit) -> bool:
    return then.start - first.end <= _NEAR


_NEAR: Final = 3

# A question back is no answer ("c'est quoi une paire de secours ?", "qu'est-ce qui sera effacé ?").
_QUESTION_WORDS: Final = frozenset(
    ("quoi", "pourquoi", "comment", "combien", "quand", "quel", "quelle", "quels", "quelles",
     "lequel", "laquelle", "what", "why", "how", "when", "which", "where", "who")
)  # fmt: skip
_QUESTION_OPENINGS: Final = (("qu", "est", "ce"), ("est", "ce", "que"), ("est", "ce", "qu"))
# What a question on the terms asks about ("il faut payer la livraison ?", "c'est gratuit ?").
_TERMS_WORDS: Final = frozenset(
    ("faut", "payer", "paye", "payant", "payante", "payants", "payantes", "gratuit", "gratuite",
     "gratuits", "gratuites", "coute", "coutent", "couter", "cout", "prix", "tarif", "tarifs",
     "frais", "supplement", "pay", "paid", "free", "cost", "costs", "price", "fee", "fees",
     "charge", "charged")
)  # fmt: skip
_ASKED: Final = _QUESTION_WORDS | _TERMS_WORDS


def asks_back(text: str, tokens: list[str], *, opening: bool = True) -> bool:
    """A question word or a question on the terms (what it costs, what it takes) in a message
    with a "?" ("c'est quoi chronopost ?", "il faut payer la livraison ?") or, for a yes or a no
    (``opening``), a question word opening it ("qu'est-ce qui sera effacé")."""
    if "?" in text and any(token in _ASKED for token in tokens):
        return True
    return opening and (
        tuple(tokens[:3]) in _QUESTION_OPENINGS or (bool(tokens) and tokens[0] in _QUESTION_WORDS)
    )


# What says "none" a few words before a word (a wider reach than ``flows.text``'s negation).
WIDE_NEGATORS: Final = frozenset({"pas", "aucune", "aucun", "sans", "plus", "no", "not", "jamais"})
KNOWN_WORDS.update(YES_NO.vocabulary)
