"""Readers for a client's free-text answers, French first, English too.

Every public function is pure (no I/O, no logging), never raises on any ``str`` and only
scans the head of the text (``_MAX_SCAN`` characters), so a 50 KB message costs nothing.

Typo tolerance works on normalized tokens (see :func:`normalize`) with ``rapidfuzz``:
a keyword of four letters or fewer must match exactly (repeated letters aside: "ouiii",
"nonnn"), a longer one allows one edit (two from eight letters on, transpositions count
as one) and always the same first letter ("k" may stand for a hard "c": "kassé"); a correctly
spelt keyword of any table (or a common French word: "porte", "case", "comme") never
fuzzy-matches another keyword. So "non" can never read as "oui" and "caisse" never reads as
"cassé". Texting spellings are expanded first ("g", "pa", "jen", "kc") and an elision glued to a
keyword split off ("jaccepte"). Overlapping keyword hits are resolved longest first ("aucun
problème" is a yes, "pas du tout" a no); a hit is negated by a free "pas"/"not"/"jamais"/"sans"
(or "ne ... plus", "rien de", "nothing") in the two words before, intensifiers aside ("pas du
tout urgent"), not past another hit ("pas perdues, cassées"), or by a "pas" just after
("carrément pas"). A bare "plus" before a hit ("plus urgent": more, or no longer?) and a question
back ("c'est quoi chronopost ?") make the answer not understood: a miss asks again, a misreading
would change the case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from itertools import pairwise
from typing import Final, Literal, cast

from flows.commands import Command, parse_command
from flows.contact import abroad, find_postcode, has_five_digits, has_street, parse_phone, parse_postcode
from flows.departments import department_of
from flows.halfday import Moment as HalfDay
from flows.halfday import find_half_day
from flows.text import (
    _MAX_SCAN,
    KNOWN_WORDS,
    _fold,
    _Hit,
    _keyword_tokens,
    _Matcher,
    _tokens,
    normalize,
)
from flows.visit_calendar import HalfDayPart

__all__ = [
    "Command",
    "HalfDay",
    "HalfDayPart",
    "Mode",
    "Need",
    "Priority",
    "SummaryAction",
    "abroad",
    "department_of",
    "find_postcode",
    "has_five_digits",
    "has_street",
    "normalize",
    "parse_choice_number",
    "parse_command",
    "parse_consent",
    "parse_erase",
    "parse_half_day",
    "parse_mode",
    "parse_name",
    "parse_need",
    "parse_no_prescription",
    "parse_phone",
    "parse_postcode",
    "parse_priority",
    "parse_summary",
    "parse_urgency",
    "parse_waitlist",
    "parse_yes_no",
]

Need = Literal["broken", "lost", "unsuitable", "other"]
Mode = Literal["visit", "shipment"]
Priority = Literal["health", "food_retail", "delivery", "firefighter", "other", "none"]


# ------------------------------------------------------------------------------- yes / no

_YES_NO: Final = _Matcher(
    {
        "yes": (
            "oui", "ouii", "ouais", "ouai", "ouep", "ouaip", "ui", "wi", "oue", "ok", "okay", "okey",
            "oki", "okok", "d accord", "dac", "bien sur", "bien sur que oui", "mais oui",
            "absolument", "exact", "exactement", "c est exact", "tout a fait", "volontiers",
            "avec plaisir", "je confirme", "confirme", "je valide", "c est ca", "c est bien ca",
            "c est bon", "c est correct", "correct", "ca marche", "ca me va", "parfait",
            "tres bien", "entendu", "bien entendu", "carrement", "evidemment", "certainement",
            "affirmatif", "aucun probleme", "aucun souci", "pas de probleme", "pas de souci",
            "sans probleme", "sans souci", "nickel", "impeccable", "yes", "yeah", "yep", "yup",
            "sure", "of course", "absolutely", "definitely", "certainly", "exactly",
            "that s right", "alright", "all right", "i confirm", "no problem", "yes please",
            # confirmations in a hurry
            "valide", "validee", "valider", "validez", "c est valide", "go", "on y va", "allez y",
            "vas y", "c est tout bon", "tout bon", "tout est bon", "tout est correct",
            "tout est ok", "c bon", "ce bon", "c ok", "c parfait", "c nickel", "super", "top",
            "genial", "impec", "ca roule", "ca me convient", "ca convient", "c est bien",
            "c est parfait", "c est good", "d acc", "tout est juste", "tout est exact", "c est juste",
            "je suis sur", "je suis sure", "c est sur", "sur et certain", "i m sure",
            "rien a changer", "rien a modifier", "rien a corriger", "nothing to change", "we",
            "great", "perfect", "looks good", "all good", "sounds good",
            "good to go", "that s fine", "it s fine", "fine by me", "go ahead", "confirmed",
            "all fine",
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
            "pas la peine", "ca ira", "non ca ira", "non c est bon", "nan c est bon",
            "non merci c est bon", "non ca va", "nan ca va", "plutot pas", "plutot non",
            "je prefere pas", "je prefere ne pas", "finalement non", "non non", "c est non",
            "rather not", "i d rather not", "no need", "not needed", "i m good", "no thank",
            "non c bon", "nan c bon", "non c ok", "nan c ok", "non c est ok", "nan c est ok",
        ),
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
    aussi ?") is no answer unless a general yes or no is in it."""
    head = text[:_MAX_SCAN]
    tokens = _keyword_tokens(head)
    if tokens == ["si"]:
        return True
    if _asks_back(head, tokens):
        return None
    return _verdict(head, tokens, own, nothing_turns)


def _verdict(head: str, tokens: list[str], own: _Matcher | None, nothing_turns: bool = False) -> bool | None:
    general = _YES_NO.find(tokens)
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
            elif previous and previous.label == "no" and not previous.negated and _near(previous, hit):
                said[-1] = True  # the spare pair just said is none
            previous = hit
            tokens[hit.start : hit.end] = ["_"] * (hit.end - hit.start)
    verdicts = set(said)
    if own is not None:  # the general words, in what the question's own words left
        general = _YES_NO.find(tokens)
    answered = False
    for hit in general:
        if hit.doubtful:
            return None
        answered = True
        if hit.label == "yes":
            verdicts.add(not hit.negated)
        elif not hit.negated:
            verdicts.add(False)
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
                tokens[k] in _WIDE_NEGATORS for k in range(max(0, link - 4), link - 1)
            )
    return False


def _near(first: _Hit, then: _Hit) -> bool:
    return then.start - first.end <= _NEAR


# A question back is no answer ("c'est quoi une paire de secours ?", "qu'est-ce qui sera effacé ?").
_QUESTION_WORDS: Final = frozenset(
    ("quoi", "pourquoi", "comment", "combien", "quand", "quel", "quelle", "quels", "quelles",
     "lequel", "laquelle", "what", "why", "how", "when", "which", "where", "who")
)  # fmt: skip
_QUESTION_OPENINGS: Final = (("qu", "est", "ce"), ("est", "ce", "que"), ("est", "ce", "qu"))


def _asks_back(text: str, tokens: list[str], *, opening: bool = True) -> bool:
    """A question word in a message with a "?" ("c'est quoi chronopost ?") or, for a yes or a no
    (``opening``), opening it ("qu'est-ce qui sera effacé")."""
    if "?" in text and any(token in _QUESTION_WORDS for token in tokens):
        return True
    return opening and (
        tuple(tokens[:3]) in _QUESTION_OPENINGS or (bool(tokens) and tokens[0] in _QUESTION_WORDS)
    )


# ------------------------------------------------------------- a question's own yes and no

# "Is it urgent?": a spare pair says no, being unable to work or drive without them says yes.
_URGENCY: Final = _Matcher(
    {
        "yes": (
            "urgent", "urgente", "urgents", "urgentes", "urgence", "tres urgent", "c est urgent",
            "super urgent", "presse", "pressee", "ca presse", "vite", "au plus vite", "asap",
            "peut pas attendre", "besoin pour travailler", "besoin pour conduire",
            "besoin pour bosser", "besoin pour le travail", "pour travailler", "pour conduire",
            "pour bosser", "pour le travail", "pour mon travail", "peux pas conduire",
            "peux pas travailler", "peux pas bosser", "peux plus conduire", "peux plus travailler",
            "vois rien", "vois plus rien", "aveugle", "aucune paire", "aucune autre paire",
            "aucune paire de secours", "seule paire", "urgently", "it s urgent", "it is urgent",
            "can t wait", "for work", "to drive", "can t drive", "can t work", "can t see",
            "blind", "no spare", "no spare pair", "no other pair", "no backup", "only pair",
            "peux pas attendre", "en ai besoin", "en ai vraiment besoin", "besoin urgent",
            "que cette paire", "que celle ci", "que celles ci", "que ces lunettes",
            "qu une paire", "qu une seule", "need them", "i need them", "only one pair",
            "peux rien faire", "rien faire sans", "tres", "des que possible",
            "le plus tot possible", "au plus tot", "rapidement", "tout de suite", "immediatement",
            "en ai pas d autres", "en ai pas d autre", "pas d autres", "que celles la",
            # slang "totally"; nothing to tide over; having to drive or work
            "grave", "rien pour depanner", "rien pour me depanner", "rien de rechange",
            "dois conduire", "dois travailler", "dois bosser",
            "need to drive", "have to drive", "need to work", "have to work",
        ),
        # What turns a spare pair said just before into none ("mon ancienne paire est partie à
        # la poubelle", "my spare pair is broken as well"): a yes.
        "gone": (
            "a la poubelle", "jetee", "cassee aussi", "cassees aussi", "perdue aussi",
            "perdues aussi", "in the bin", "thrown away", "broken as well", "lost as well",
        ),
        "no": (
            "paire de secours", "lunettes de secours", "autre paire", "deuxieme paire",
            "seconde paire", "paire de rechange", "lunettes de rechange", "anciennes lunettes",
            "vieilles lunettes", "ancienne paire", "vieille paire", "peut attendre",
            "rien de presse", "pas specialement", "pas particulierement", "spare pair",
            "spare glasses", "other pair", "old glasses", "old pair", "backup pair", "can wait",
            "no rush", "not particularly", "peux attendre", "pas trop", "not in a hurry",
            "autres lunettes", "mes anciennes", "me debrouille", "other glasses",
            "pas tant", "pas tant que ca", "not that much", "not so much",
            "pour depanner", "pour me depanner", "de quoi depanner", "de quoi me depanner",
        ),
    }
)  # fmt: skip
# "Do you accept the optician's visit?": a shipping word is a no (``parse_mode`` is read first).
_CONSENT: Final = _Matcher(
    {
        "yes": (
            "j accepte", "accepte", "acceptee", "accepter", "qu il vienne", "venez", "peut venir",
            "peut passer", "qu il passe", "bienvenu", "bienvenue", "ok pour la visite",
            "va pour la visite", "i accept", "accept", "he can come", "she can come",
        ),
        "no": (
            "pas de visite", "je refuse", "refuse", "refuser", "pas chez moi", "personne chez moi",
            "no visit", "i refuse",
        ),
    }
)  # fmt: skip
# "Shall we tell you when normal service resumes?"
_WAITLIST: Final = _Matcher(
    {
        "yes": (
            "prevenez moi", "prevenez", "prevenir", "previens moi", "tenez moi au courant",
            "tenez moi informe", "tenez moi informee", "au courant", "informez moi",
            "avertissez moi", "inscrivez moi", "je veux bien", "ca m interesse", "interesse",
            "interessee", "keep me posted", "keep me informed", "let me know", "notify me",
            "tell me", "sign me up", "interested",
        ),
        "no": ("je vais me debrouiller", "me debrouiller", "debrouiller", "ailleurs", "elsewhere"),
    }
)  # fmt: skip
# "Really erase all your data?": to erase is a yes, to keep or go on a no.
_DELETE: Final = _Matcher(
    {
        "yes": (
            "efface", "effacez", "effacer", "efface tout", "effacez tout", "tout effacer",
            "supprime", "supprimez", "supprimer", "supprimez tout", "tout supprimer", "erase",
            "delete", "erase everything", "delete everything", "erase it", "delete it",
        ),
        "no": (
            "garder", "garde", "gardez", "je garde", "continuer", "continue", "continuez",
            "je continue", "on continue", "me suis trompe", "me suis trompee", "effacez rien",
            "efface rien", "supprimez rien", "touchez a rien", "keep", "keep it", "go on",
            "my mistake", "by mistake",
            # Cancelling the deletion (the question reads these before the global "annuler").
            "annuler", "annule", "annulez", "laisse tomber", "laissez tomber", "cancel", "stop",
        ),
    }
)  # fmt: skip
# "Send a photo of the new prescription": what says there is none.
_PRESCRIPTION: Final = _Matcher(
    {
        "missing": (
            "en ai pas", "en ai plus", "en ai aucune", "en ai point", "l ai pas", "l ai plus",
            "pas d ordonnance", "pas d ordo", "pas encore", "toujours pas", "aucune ordonnance",
            "sans ordonnance", "plus d ordonnance", "perdu", "perdue", "egaree", "jetee",
            "no prescription", "don t have one", "don t have any", "don t have a prescription",
            "do not have one", "do not have a prescription", "haven t got one", "lost it",
            "not yet", "retrouve pas", "trouve pas", "retrouve plus", "trouve plus",
            "can t find it",
            # none given ("mon ophtalmo m'a rien donné")
            "rien donne", "rien prescrit", "rien recu", "pas donne", "pas prescrit", "pas recu",
            "pas recue", "gave me nothing", "didn t give me", "didn t get one",
        ),
        # It exists, only not at hand: it will come ("je l'ai pas sous la main").
        "later": (
            "sous la main", "sur moi", "plus tard", "demain", "ce soir", "tout a l heure",
            "apres", "later", "tomorrow", "tonight", "on me",
        ),
        # Said none by a negation just before ("pas d'ordonnance"); a new one too ("périmée et pas
        # de nouvelle": "périmée" alone is still one).
        "prescription": ("ordonnance", "ordonnances", "ordo", "prescription", "nouvelle", "new one"),
    }
)  # fmt: skip


def parse_urgency(text: str) -> bool | None:
    """ "pas urgent", "j'ai une paire de secours" (no); "je n'ai pas de paire de secours" (yes)."""
    return parse_yes_no(text, _URGENCY)


def parse_consent(text: str) -> bool | None:
    """The visit accepted ("j'accepte", "qu'il vienne") or refused, by any shipping wish too."""
    if parse_mode(text) == "shipment":
        return False
    return parse_yes_no(text, _CONSENT)


def parse_waitlist(text: str) -> bool | None:
    """To be told when normal service resumes ("prévenez-moi") or not ("pas la peine")."""
    return parse_yes_no(text, _WAITLIST)


def parse_erase(text: str) -> bool | None:
    """True to erase ("oui, effacez tout"), False to keep ("non, je garde", "continuer"); nothing
    erased is a keep ("ne rien effacer", "don't delete anything"), nothing kept an erase."""
    return parse_yes_no(text, _DELETE, nothing_turns=True)


def parse_no_prescription(text: str) -> bool:
    """Whether the client says they have no prescription ("je n'en ai pas", "pas d'ordo",
    "je l'ai perdue"); a plain no too. "J'ai pas de scanner" is not one: the word must be there."""
    tokens = _keyword_tokens(text[:_MAX_SCAN])
    hits = _PRESCRIPTION.find(tokens)
    if any(hit.label == "later" for hit in hits):
        return False
    for hit in hits:
        if hit.label == "missing" and not hit.negated:
            return True
        if hit.label == "prescription" and _after_negator(tokens, hit.start):
            return True
    return parse_yes_no(text) is False


def _after_negator(tokens: list[str], start: int, reach: int = 3) -> bool:
    """A "pas", "aucune", "sans"... in the few words before (a wider "pas encore d'ordonnance")."""
    return any(tokens[k] in _WIDE_NEGATORS for k in range(max(0, start - reach), start))


_WIDE_NEGATORS: Final = frozenset({"pas", "aucune", "aucun", "sans", "plus", "no", "not", "jamais"})


# ---------------------------------------------------------------------------------- need

_NEED: Final = _Matcher(
    {
        "broken": (
            "casse", "cassee", "casses", "cassees", "casser", "cassure", "brise", "brisee",
            "brises", "brisees", "abime", "abimee", "abimes", "abimees", "fissure", "fissuree",
            "fissures", "fissurees", "fendu", "fendue", "fendus", "fendues", "fele", "felee",
            "feles", "felees", "tordu", "tordue", "tordus", "tordues", "raye", "rayee", "rayes",
            "rayees", "ecrase", "ecrasees", "plie", "pliee", "en morceaux", "deux morceaux",
            "assis dessus", "marche dessus", "branche cassee", "verre fendu", "monture cassee",
            "broken", "broke", "cracked", "snapped", "bent", "scratched", "damaged", "smashed",
            # what happened to them, in the client's words
            "morceaux", "miettes", "foutu", "foutue", "foutus", "foutues", "fichu", "fichue",
            "fichues", "hs", "hors service", "hors d usage", "explose", "explosee", "explosees",
            "eclate", "eclatee", "eclatees", "ecrasee", "ecrases", "mordu", "mordues",
            "machouille", "machouillees", "tient plus", "tiennent plus", "marche sur mes",
            "marche sur les", "marche sur ma", "assis sur mes", "assise sur mes", "assis sur les",
            "assise sur les", "assise dessus", "assis dessus", "ecrase dessus", "roule dessus",
            "sat on my", "sat on them", "stepped on my", "stepped on them", "ran over",
            "destroyed", "ruined", "falling apart", "chewed", "reparer", "reparation",
            "a reparer", "repair", "repaired", "desserrees", "desserree", "pete", "petee", "petees",
            "nique", "niquee", "niquees", "raille", "raillee", "raillees", "ecrabouille", "ecrabouillee",
            "ecrabouillees",
        ),
        # A part that came off ("un verre est tombé", "la branche s'est détachée") is damage;
        # a lost part ("perdu une vis") too.
        "part": (
            "verre", "verres", "branche", "branches", "monture", "plaquette", "plaquettes",
            "charniere", "lens", "lenses", "arm", "frame", "nose pad",
        ),
        "screw": ("vis", "screw", "screws"),
        "came_off": (
            "tombe", "tombee", "tombes", "tombees", "saute", "sautee", "detache", "detachee",
            "decolle", "decollee", "dessoude", "dessoudee", "sorti", "sortie", "fell", "fallen",
            "popped", "came off", "loose", "lache", "lachee", "desserre", "desserree",
            "desserrees", "devisse", "devissee", "devissees", "parti", "partie", "partis",
            "parties", "se balade", "se baladent", "bouge", "bougent", "wobbles", "wobbly",
        ),
        # Losing a case or a cord is not losing the glasses.
        "accessory": ("etui", "housse", "cordon", "chainette", "chiffon", "pochette", "boite"),
        "lost": (
            "perdu", "perdue", "perdus", "perdues", "perdre", "paume", "paumee", "paumees",
            "egare", "egaree", "egares", "egarees", "introuvable", "introuvables", "disparu",
            "disparue", "disparues", "vole", "volee", "voles", "volees", "vol", "cambriole",
            "oublie", "oubliees", "trouve plus", "retrouve plus", "lost", "stolen", "missing",
            "piquees", "piquee",
            "misplaced", "can t find", "cannot find",
            "oubliee", "oublies", "envolees", "envolee", "retrouve pas", "trouve pas",
            "laisse dans", "laissee dans", "laissees dans", "laisses dans", "left them in",
            "left them on", "left them at", "forgot them", "forgotten",
            "impossible de les retrouver", "impossible de les trouver",
            "arrive pas a les retrouver", "arrive pas a les trouver", "arrive plus a les trouver",
            "peux pas les retrouver", "sais plus ou", "sais pas ou", "restees dans",
            "restee dans", "reste dans", "where i put them", "left behind", "laisse mes lunettes",
            "laissees au", "laisse au", "laissee au", "laissees a", "left my glasses",
            # never seen again
            "jamais revu", "jamais revue", "jamais revues", "jamais revus", "jamais retrouve",
            "never found", "never saw them again", "never found them", "overboard",
        ),
        # Where what fell is gone ("tombées à l'eau", "fell in the sea"): lost.
        "water": (
            "a l eau", "dans l eau", "a la mer", "dans la mer", "dans le lac", "dans la riviere",
            "in the water", "into the water", "in the sea", "into the sea", "in the lake",
            "into the lake", "in the river", "into the river", "in the ocean", "into the ocean",
        ),
        "unsuitable": (
            "ne me conviennent plus", "conviennent plus", "convient plus", "conviennent pas",
            "vont plus", "plus adaptees", "plus adaptee", "plus adaptes", "pas adaptees",
            "inadaptees", "inadaptee", "inadaptes", "je vois mal", "vois mal", "vois flou",
            "vois plus bien", "vois pas bien", "vue a baisse", "vue baisse", "vue a change",
            "trop faibles", "plus assez fortes", "nouvelle ordonnance", "new prescription",
            "tout flou", "vois trouble", "vois double", "vision floue", "vue floue",
            "vois plus rien avec", "vois rien avec", "vois mal avec", "vois plus avec",
            "unsuitable", "can t see", "blurry", "don t suit", "no longer suit", "don t fit",
            "no longer fit", "doesn t fit", "not suitable",
        ),
        # The sight or lenses said no longer right ("la correction n'est plus bonne").
        "not_right": (
            "plus bonne", "plus bonnes", "plus bon", "plus bons", "plus la bonne",
            "pas la bonne", "pas bonne", "mauvaise", "mauvaises", "trop faible", "trop forte",
            "trop fortes", "plus assez", "no longer right", "wrong",
        ),
        "other": (
            "renouvellement", "renouveler", "lentilles", "lentille", "question", "renseignement",
            "information", "rendez vous de controle", "controle", "examen de vue", "devis",
            "autre chose", "autre", "something else", "other", "contact lenses", "renewal",
            "check up", "checkup",
            # glasses wanted besides the everyday pair
            "lunettes de soleil", "solaire", "solaires", "sunglasses", "deuxieme paire",
            "seconde paire", "second pair", "spare pair",
        ),
        "prescription": ("ordonnance", "prescription"),
        "sight": (
            "vue", "vois", "vision", "flou", "floue", "change", "changee", "baisse", "evolue",
            "correction", "nouvelle", "eyesight", "changed",
        ),
        # The sight itself said changed ("ma vue a changée", "ma vision a diminué").
        "eyesight": (
            "ma vue", "sa vue", "ma vision", "mes yeux", "ma correction", "la correction",
            "my eyesight", "my eyes",
        ),
        "worse": (
            "baissee", "evoluee", "diminue", "diminuee", "empire", "degrade", "degradee",
            "worse", "worsened", "augmente", "augmentee", "increased",
        ),
    }
)  # fmt: skip
_NEED_ORDER: Final[tuple[Need, ...]] = ("broken", "lost", "unsuitable", "other")


def parse_need(text: str) -> Need | None:
    """broken > lost > unsuitable > other when several are mentioned."""
    tokens = _keyword_tokens(text)
    if _asks_back(text[:_MAX_SCAN], tokens, opening=False):
        return None
    found = _NEED.find(tokens)
    if any(hit.doubtful for hit in found):
        return None
    hits = [hit for hit in found if not hit.negated]
    labels = [hit.label for hit in hits]
    if "prescription" in labels and "sight" in labels:
        labels.append("unsuitable")
    if "not_right" in labels and _labels_any(labels, "sight", "part", "eyesight"):
        labels.append("unsuitable")
    if "eyesight" in labels and ("worse" in labels or "sight" in labels):
        labels.append("unsuitable")
    for first, then in pairwise(hits):
        near = _near(first, then)
        if {first.label, then.label} in _CAME_OFF and near:  # "un verre est tombé"
            labels.append("broken")
        if (first.label, then.label) == ("came_off", "water") and near:  # "tombées à l'eau"
            labels.append("lost")
        if first.label == "lost" and near and then.label in _SMALL_PARTS:  # "perdu une vis"
            labels.remove("lost")
            labels.append("broken" if then.label != "accessory" else "accessory")
    if "broken" in labels and "lost" in labels:  # "cassées ou perdues, je ne sais plus"
        return None
    return next((need for need in _NEED_ORDER if need in labels), None)


def _labels_any(labels: list[str], *wanted: str) -> bool:
    return any(label in labels for label in wanted)


_NEAR: Final = 3
_CAME_OFF: Final = ({"part", "came_off"}, {"screw", "came_off"})
_SMALL_PARTS: Final = frozenset(("part", "screw", "accessory"))


# ---------------------------------------------------------------------------------- mode

_MODE: Final = _Matcher(
    {
        "visit": (
            "visite", "visiter", "venir", "venez", "viendrez", "deplacement", "deplacer",
            "deplacez", "sur place", "home visit", "visit", "come", "come over", "in person",
            "vienne", "viennent", "vient", "venir chez moi", "opticien", "opticienne",
            "optician", "peux pas me deplacer", "peux pas bouger", "peux pas sortir",
            "peux plus me deplacer", "peux plus sortir", "can t go out", "can t leave",
        ),
        "visit_place": (
            "a domicile", "domicile", "chez moi", "chez nous", "au travail", "lieu de travail",
            "au bureau", "passer", "passez", "at home", "at work", "my place", "home",
            "a la maison", "au boulot", "au taf", "passe", "travail", "boulot", "bureau", "a dom",
            "office", "at the office", "my office", "chez", "work",
        ),
        "shipment": (
            "envoi", "envoyer", "envoyez", "envoie", "par la poste", "la poste", "poste",
            "courrier", "livraison", "livrer", "livrez", "colis", "chronopost", "colissimo",
            "expedition", "expedier", "expediez", "point relais", "relais", "ship", "shipping",
            "shipment", "delivery", "deliver", "post", "by post", "mail", "send", "parcel",
            "chrono", "recevoir", "receive", "courier", "by courier", "livree", "livrees", "shipped",
            "mailed", "posted",
            "etre livre",
        ),
    }
)  # fmt: skip


def parse_mode(text: str) -> Mode | None:
    """A shipping word beats a place ("livraison à domicile"); a visit verb plus one -> None."""
    tokens = _keyword_tokens(text)
    if _asks_back(text[:_MAX_SCAN], tokens, opening=False):
        return None
    found = _MODE.find(tokens)
    if any(hit.doubtful for hit in found):
        return None
    labels = {hit.label for hit in found if not hit.negated}
    if "shipment" in labels:
        return None if "visit" in labels else "shipment"
    if labels & {"visit", "visit_place"}:
        return "visit"
    return None


# ------------------------------------------------------------------------------ priority

_PRIORITY: Final = _Matcher(
    {
        "health": (
            "medecin", "docteur", "infirmiere", "infirmier", "aide soignante", "aide soignant",
            "soignante", "soignant", "personnel soignant", "hopital", "clinique", "pharmacien",
            "pharmacienne", "pharmacie", "sage femme", "kine", "kinesitherapeute",
            "ambulancier", "ambulanciere", "ehpad", "chu", "urgences", "urgentiste", "hosto",
            "chirurgien", "dentiste", "radiologue", "brancardier", "auxiliaire de vie",
            "aide a domicile", "sante", "medical", "nurse", "doctor", "hospital", "paramedic",
            "caregiver", "carer", "pharmacist", "midwife", "physiotherapist",
            "hospitalier", "hospitaliere", "puericultrice", "puericulture", "reanimation",
            "laboratoire", "preparatrice", "preparateur", "hospital worker",
        ),
        "food_retail": (
            "caissiere", "caissier", "caisse", "hotesse de caisse", "supermarche",
            "hypermarche", "superette", "grande surface", "boulanger", "boulangere",
            "boulangerie", "commerce alimentaire", "alimentation", "epicerie", "epicier",
            "epiciere", "boucher", "bouchere", "boucherie", "charcutier", "poissonnier",
            "primeur", "fromager", "carrefour", "leclerc", "auchan", "intermarche", "lidl", "aldi",
            "monoprix", "franprix", "grocery", "cashier", "supermarket", "baker", "butcher",
            "food retail", "food store", "super u", "casino", "picard", "tesco", "sainsbury",
        ),
        "delivery": (
            "livreur", "livreuse", "chauffeur livreur", "coursier", "coursiere", "facteur",
            "factrice", "postier", "postiere", "courrier", "livraison", "livraisons", "routier",
            "courier", "delivery driver", "delivery man", "postman", "mail carrier",
            "a la poste", "deliveroo", "uber eats", "amazon",
        ),
        "firefighter": (
            "pompier", "pompiers", "sapeur pompier", "sapeurs pompiers", "firefighter",
            "fire fighter", "fireman", "fire brigade", "fire service", "fire department",
        ),
        "other": (
            "autre", "autres", "autre metier", "autre metier mobilise", "policier", "policiere",
            "police", "gendarme", "gendarmerie", "eboueur", "eboueuse", "militaire",
            "enseignant", "enseignante", "professeur", "agent de securite", "agent d entretien",
            "chauffeur", "conducteur", "conductrice", "taxi", "pompes funebres", "other",
            "police officer", "soldier", "teacher", "cleaner", "bus driver",
            "garbage collector",
        ),
        "none": (
            "pas mobilise", "pas mobilisee", "non mobilise", "non mobilisee", "aucun",
            "aucune", "pas concerne", "pas concernee", "none", "not mobilised",
            "not mobilized", "not concerned", "retraite", "retraitee", "a la retraite",
            "chomage", "au chomage", "sans emploi", "teletravail", "en teletravail", "retired",
            "unemployed",
        ),
    }
)  # fmt: skip
# A correctly spelt keyword of any table, or one of these common words, is never read as a
# typo of another keyword ("caisse" is not "cassé", "porte" is not "poste").
_COMMON_WORDS: Final = (
    "voie", "porte", "portes", "case", "cases", "saint", "sainte", "career", "tenir", "comme",
    "comment", "homme", "somme", "pomme", "elle", "elles", "belle", "celle", "celles", "cette",
    "tous", "toutes", "mais", "avec", "dans", "pour", "vous", "nous", "leur", "leurs", "mes",
    "sont", "suis", "fait", "faire", "vais", "veux", "peux", "peut", "dois", "doit", "chez",
    "quand", "quoi", "donc", "alors", "aussi", "encore", "deja", "merci", "bonjour", "demain",
    "lunettes", "lunette", "paire", "photo", "envie", "votre", "notre", "partir",
)  # fmt: skip
KNOWN_WORDS.update(
    _COMMON_WORDS,
    *(
        matcher.vocabulary
        for matcher in (_YES_NO, _NEED, _MODE, _PRIORITY, _URGENCY, _CONSENT, _WAITLIST, _DELETE)
    ),
    _PRESCRIPTION.vocabulary,
)
# A job said of someone else ("non, mais mon mari est infirmier") is not the client's.
_POSSESSIVES: Final = frozenset(("mon", "ma", "my", "notre", "our"))
_RELATIVES: Final = frozenset(
    (
        "mari", "femme", "epoux", "epouse", "conjoint", "conjointe", "compagnon", "compagne",
        "fils", "fille", "pere", "mere", "frere", "soeur", "copain", "copine", "voisin",
        "voisine", "husband", "wife", "son", "daughter", "father", "mother", "partner",
        "brother", "sister", "neighbour", "neighbor",
    )
)  # fmt: skip
_JOBS: Final[tuple[Priority, ...]] = ("health", "food_retail", "delivery", "firefighter", "other")


def parse_priority(text: str) -> Priority | None:
    """The first job mentioned; "none" for "not mobilised" or a plain no."""
    tokens = _keyword_tokens(text)
    if _asks_back(text[:_MAX_SCAN], tokens, opening=False):
        return None
    found = _PRIORITY.find(tokens)
    if any(hit.doubtful for hit in found):
        return None
    labels = [hit.label for hit in found if not hit.negated]
    if any(a in _POSSESSIVES and b in _RELATIVES for a, b in pairwise(tokens)):
        labels = [label for label in labels if label not in _JOBS]
    job = next((job for label in labels for job in _JOBS if job == label), None)
    if job is not None:
        return None if "none" in labels else job
    if "none" in labels or parse_yes_no(text) is False:
        return "none"
    return None


# ------------------------------------------------------------------------------- summary

SummaryAction = Literal[
    "confirm", "change_mode", "change_address", "change_slot", "change_name", "change_phone"
]
# What can be changed at the summary, by the words naming it.
_SUMMARY: Final = _Matcher(
    {
        "change_address": (
            "adresse", "adresses", "address", "code postal", "postcode", "digicode",
            "code d entree", "code de la porte", "code porte", "batiment", "etage", "appartement",
            "appart", "interphone", "escalier", "rue", "ville", "street", "floor", "building",
            "door code",
        ),
        "change_slot": (
            "creneau", "creneaux", "horaire", "horaires", "heure", "heures", "date", "jour",
            "moment", "rendez vous", "demi journee", "matin", "apres midi", "aprem", "soir",
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "slot", "time", "day",
            "morning", "afternoon", "appointment",
        ),
        "change_name": ("nom", "prenom", "nom de famille", "name", "surname"),
        "change_phone": (
            "telephone", "tel", "numero", "num", "portable", "mobile", "phone", "number",
            "phone number",
        ),
        "change_mode": (
            "mode", "mode de service", "service", "envoi", "visite", "livraison", "livree", "poste",
            "shipped", "mailed",
            "chronopost", "colis", "courrier", "expedition", "shipping", "shipment", "visit",
            "delivery", "post",
        ),
    }
)  # fmt: skip
# The button says "Oui, envoyer": the request sent is a confirmation ("envoyez-les" is not).
_SUMMARY_YES: Final = _Matcher(
    {"yes": ("envoyer", "envoyer la demande", "envoyez la demande", "pouvez envoyer",
             "c est parti", "send it", "send the request", "submit")}
)  # fmt: skip
_APPROVALS: Final = frozenset(
    ("bon", "bonne", "bons", "bonnes", "correct", "correcte", "corrects", "correctes", "juste",
     "justes", "exact", "exacte", "ok", "bien", "parfait", "parfaite", "nickel", "good", "right",
     "fine")
)  # fmt: skip
_CHANGES: Final = frozenset(
    ("changer", "change", "changez", "changement", "modifier", "modifiez", "modif", "corriger",
     "corrigez", "rectifier", "faux", "fausse", "fausses", "erreur", "errone", "erronee",
     "mauvais", "mauvaise", "mal", "pas", "plus", "autre", "plutot", "prefere", "finalement",
     "sauf", "wrong", "incorrect", "incorrecte", "other", "rather", "except", "edit", "fix",
     "not", "another")
)  # fmt: skip
# A new clause ("le nom est bon mais pas l'adresse", "tout est bon sauf le téléphone").
_CLAUSE_WORDS: Final = frozenset(("mais", "sauf", "cependant", "but", "except", "however"))
_CLAUSE_MARKS: Final = re.compile(r"[,.;:!?()\n]+")
KNOWN_WORDS.update(_SUMMARY.vocabulary, _SUMMARY_YES.vocabulary)


def parse_summary(text: str) -> SummaryAction | None:
    """A change the client names ("l'adresse est fausse", "plutôt jeudi", "tout est bon sauf le
    téléphone"), else "confirm" for a yes. A thing said right ("oui, le numéro est bon") is no
    change; a clause both approving and changing several things is not understood."""
    head = text[:_MAX_SCAN]
    changes: list[str] = []
    clauses = _clauses(head)
    for clause in clauses:
        fields = [hit.label for hit in _SUMMARY.find(clause)]
        # A name spelt out ("Dupond avec un d"), unless approved ("..., c'est bien ça").
        if not fields and _spells(clause) and not any(map(_approves, clauses)):
            fields = ["change_name"]
        if not fields:
            continue
        changed = any(token in _CHANGES for token in clause)
        approved = any(token in _APPROVALS for token in clause)
        if approved and not changed:
            continue
        if approved and len(set(fields)) > 1:
            return None
        changes += fields
    if changes:
        return cast(SummaryAction, changes[0])
    said_yes = parse_yes_no(head, _SUMMARY_YES) is True
    if not said_yes and parse_phone(head) is not None:  # "non, c'est le 06 12 34 56 78"
        return "change_phone"
    return "confirm" if said_yes else None


def _approves(clause: list[str]) -> bool:
    """Something said right and nothing to change ("c'est bien ça", "le nom est bon")."""
    return any(token in _APPROVALS for token in clause) and not any(token in _CHANGES for token in clause)


def _spells(clause: list[str]) -> bool:
    """A word spelt out ("avec un d", "with two n", "ça s'écrit", "spelt"): only a name is spelt
    at the summary when no other thing is named in the clause ("la rue s'écrit...")."""
    if any(token in _SPELLING for token in clause) or ("s", "ecrit") in pairwise(clause):
        return True
    return any(
        with_ in _SPELT_WITH and count in _LETTER_COUNTS and len(letter) == 1 and letter.isalpha()
        for with_, count, letter in zip(clause, clause[1:], clause[2:], strict=False)
    )


_SPELLING: Final = frozenset(("spelt", "spelled", "spells", "spell", "epelle", "epele"))
_SPELT_WITH: Final = frozenset(("avec", "with"))
_LETTER_COUNTS: Final = frozenset(("un", "une", "deux", "a", "an", "two", "double"))


def _clauses(text: str) -> list[list[str]]:
    clauses: list[list[str]] = []
    for part in _CLAUSE_MARKS.split(text):
        current: list[str] = []
        for token in _keyword_tokens(part):
            if token in _CLAUSE_WORDS and current:
                clauses.append(current)
                current = []
            current.append(token)
        if current:
            clauses.append(current)
    return clauses


# ------------------------------------------------------------------------------ half-day


def parse_half_day(text: str, today: date) -> HalfDay | None:
    """ "demain matin", "lundi 14h", "12/12 après-midi", "samedi", "dès que possible"... as said,
    past or not (rules in ``flows.halfday``; what can be booked in ``flows.visit_calendar``)."""
    return find_half_day(_fold(text[:_MAX_SCAN]), today)


# ---------------------------------------------------------------------------------- name

# What may open the answer before the name: a greeting (and a title), then a filler or a yes.
_NAME_GREETING: Final = (
    r"(?:(?:bonjour|bonsoir|salut|slt|bjr|bsr|hello|hi|hey|coucou|good\s+(?:morning|afternoon|evening))"
    r"\b(?:\s+(?:madame|monsieur|mesdames|messieurs))?[\s,.!]*)?"
    r"(?:(?:oui|ouais|ok|okay|d'\s*accord|voil[aà]|alors|euh+|heu+|bah|donc|yes|merci)\b[\s,.:!]*)*"
)
_NAME_INTROS: Final = (
    r"je\s+m'?\s*ap+el+e?", r"j'?\s*m'?\s*ap+el+e?", r"je\s+me\s+(?:pr[ée])?nom+e",
    r"moi\s*,?\s*c(?:'?\s*est|[ée])?", r"moi(?=\s*[:=])", r"c'?\s*est\s+moi", r"c\s+moi",
    r"(?:c'?\s*est\s+|la\s+demande\s+est\s+|mettez\s+|notez\s+)?au\s+nom\s+de",
    r"c'?\s*est", r"c[ée]", r"c",
    r"(?:mon|le)\s+(?:pr[ée]nom|nom(?:\s+de\s+famille)?)\s+(?:est|c'?\s*est|c)",
    r"mon\s+nom(?:\s+de\s+famille)?", r"nom\s+et\s+pr[ée]nom", r"pr[ée]nom\s+et\s+nom",
    r"nom\s+de\s+famille", r"nom", r"pr[ée]nom", r"mettez", r"notez",
    r"my\s+(?:full\s+|first\s+|last\s+)?name\s+is", r"my\s+name'?s", r"(?:the\s+)?name\s+is",
    r"(?:the\s+)?name'?s", r"name", r"(?:you\s+can\s+)?call\s+me", r"i'?m\s+called", r"i\s+am\s+called",
    r"(?:il|elle)\s+s'?\s*ap+el+e?", r"(?:it'?s\s+|it\s+is\s+)?under(?:\s+the\s+name(?:\s+of)?)?",
    r"in\s+the\s+name\s+of",
)  # fmt: skip
# Intros that also start ordinary sentences ("je suis retraitée"): the name must then be capitalised.
_NAME_WEAK_INTROS: Final = (r"je\s+suis", r"j'?\s*suis", r"i\s+am", r"i'?m", r"it's", r"this\s+is")
_NAME_INTRO: Final = re.compile(
    (
        r"^\s*" + _NAME_GREETING + r"(?:(?:(?P<strong>" + "|".join(_NAME_INTROS) + ")|"
        r"(?P<weak>" + "|".join(_NAME_WEAK_INTROS) + r"))\b\s*[:=,\-–]?\s*)?"
    ).replace("'", "['’ʼ`´]"),
    re.IGNORECASE,
)
# A labelled field inside the answer ("Dupont, prénom : Jean"): the label goes, the value stays.
_NAME_FIELD: Final = re.compile(
    r"[,;/]?\s*\b(?:nom\s+de\s+famille|pr[ée]nom|nom|(?:first|last)\s+name|surname|name)\b\s*[:=]?\s*",
    re.IGNORECASE,
)
# A phone number given after the name ("Jean Dupont, tél 06 12 34 56 78"): the name before it.
_NAME_THEN_PHONE: Final = re.compile(
    r"^(?P<name>[^\d]*?)[\s,;:/\-–]*(?:\b(?:t[ée]l(?:[ée]phone)?|portable|mobile|num(?:[ée]ro)?|phone|"
    r"number)\b\.?[\s:]*)?(?P<phone>\+?\d[\d\s.\-/()]*)$",
    re.IGNORECASE,
)
# An initial ("A. Dupont", "Marie D.") is a letter of the name, not the word it spells.
_INITIAL: Final = re.compile(r"(?<!\w)[^\W\d_]\.")
_INITIAL_LAST: Final = re.compile(r"(?<!\w)[^\W\d_]\.$")
_URL: Final = re.compile(r"https?:|www\.|@|\.(?:com|fr|net|org|io)\b", re.IGNORECASE)
_NAME_CUT: Final = re.compile(r"[!;\n\r]")
_NAME_SPACES: Final = str.maketrans("()[]/_", "      ")
# A dot glued between two words is a space ("dubois.marie"), not an initial's ("J.P. Dupont").
_GLUED_DOT: Final = re.compile(r"(?<=[^\W\d_]{2})\.(?=[^\W\d_]{2})")
_NAME_POLITE_END: Final = frozenset(
    ("merci", "thanks", "thank", "you", "svp", "stp", "please", "beaucoup", "bcp", "voila", "ici",
     "here", "speaking", "cheers", "thx")
)  # fmt: skip
# Fillers that open a sentence, never a name, when written in lower case ("ben oui", "bon ben").
_NAME_LOWER_FILLERS: Final = frozenset({"ben", "bon"})
# A title alone is no name ("Bonjour Madame"); with a name it stays ("Mme Petit").
_CIVILITIES: Final = frozenset(
    {"madame", "monsieur", "mme", "mlle", "mademoiselle", "m", "mr", "mrs", "ms", "miss", "dr", "docteur"}
)
# The request made for someone else, whose name follows ("c'est pour ma mère, Josette Girard").
_FOR_SOMEONE: Final = frozenset(
    ("pour", "for", "mere", "pere", "maman", "papa", "fils", "fille", "mari", "femme", "mother",
     "father", "mom", "mum", "dad", "son", "daughter", "wife", "husband")
)  # fmt: skip
# "et"/"and" joins two names ("M. et Mme Dupont"), only between capitalised words.
_NAME_AND: Final = frozenset({"et", "and", "&"})
# Words no name is made of: grammar, fillers, yes and no, the glasses, moments (a weekday is not
# a name: "samedi" answers another question), places of an address, what a hesitation says.
_NAME_STOPWORDS: Final = frozenset(
    (
        "je", "j", "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "me", "moi",
        "mon", "ma", "mes", "ton", "ta", "tes", "son", "sa", "ses", "notre", "votre", "leur",
        "ai", "as", "avez", "avons", "est", "suis", "es", "sont", "etes", "pas", "ne",
        "plus", "pour", "avec", "dans", "sur", "par", "et", "ou", "que", "qui", "quoi",
        "quand", "comment", "pourquoi", "lunettes", "lunette", "verres", "merci", "bonjour",
        "bonsoir", "salut", "ca", "c", "i", "my", "is", "am", "the", "and", "glasses",
        "please", "what", "why", "how", "you", "your", "it", "this", "that", "hello", "hi",
        "thanks", "not", "ok", "a", "au", "aux", "en", "chez", "bah", "euh", "heu",
        "eh", "ah", "oh", "hein", "voila", "bref", "alors", "donc", "mouais", "bof", "lol", "mdr",
        "sir", "urgent", "urgence", "possible", "oui", "ouais", "non", "yes", "no", "okay",
        # moments
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "monday",
        "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "demain",
        "aujourd", "hui", "aujourdhui", "apres", "aprem", "aprems", "matin", "matinee", "soir",
        "soiree", "midi", "journee", "semaine", "weekend", "maintenant", "asap", "bientot",
        "today", "tomorrow", "tonight", "morning", "afternoon", "evening", "now", "week",
        # an address
        "rue", "avenue", "boulevard", "bd", "impasse", "chemin", "allee", "quai", "route",
        "lieudit", "residence", "batiment", "appartement", "appt", "cedex", "street", "road",
        # hesitations, refusals, questions back
        "attendez", "attends", "attend", "patientez", "minute", "instant", "moment", "seconde",
        "pardon", "desole", "desolee", "rien", "personne", "anonyme", "obligatoire", "besoin",
        "sais", "sait", "savoir", "comprends", "comprend", "compris", "veux", "voulez", "faut",
        "dire", "dis", "dites", "idem", "pareil", "wait", "sorry", "nothing", "nobody",
        "anonymous", "need", "know", "same", "mien", "mienne", "meme", "tres", "famille",
        "appel", "appelle", "apelle", "nomme", "mettez", "notez",
        "un", "une", "si", "bien", "tout", "comme", "deja", "avant", "suite", "peu", "importe",
        "recu", "note", "noted", "ecrit", "donne", "habitude", "haut", "probleme", "problem",
        "bonne", "nuit", "night", "see", "bye", "allo", "vite", "sos", "robot", "test", "essai",
        "retour", "precedent", "suivant", "valider", "envoyer", "haha", "hihi", "hehe", "hmm",
        "hum", "mmm", "pff", "azerty", "qwerty",
        # family, not the family name
        "maman", "papa", "mamie", "mamy", "papi", "papy", "mere", "pere", "femme", "enfant",
        "enfants", "bebe", "mom", "mum", "dad", "mother", "father", "wife", "husband", "daughter",
        "grandma", "grandpa", "etudiant", "etudiante", "student",
        # the glasses
        "myope", "astigmate", "presbyte", "hypermetrope", "progressifs", "paire", "secours",
        "monture", "branche", "verre",
        # months (not those that are also first names: Avril, Mai, June...) and towns
        "janvier", "fevrier", "juillet", "aout", "septembre", "octobre", "novembre", "decembre",
        "january", "february", "july", "september", "october", "november", "december", "lyon",
        "marseille", "toulouse", "bordeaux", "lille", "nantes", "strasbourg", "montpellier",
        "rennes", "grenoble", "bretagne", "normandie",
    )
)  # fmt: skip
# Every word a keyword of another question ("cassées", "livraison", "infirmière"): no name.
_OTHER_ANSWERS: Final = (_YES_NO, _NEED, _MODE, _PRIORITY)
_MAX_NAME_LEN: Final = 80
_MAX_NAME_WORDS: Final = 6


def _answers_something_else(tokens: list[str]) -> bool:
    covered = [False] * len(tokens)
    for matcher in _OTHER_ANSWERS:
        for hit in matcher.find(tokens):
            covered[hit.start : hit.end] = [True] * (hit.end - hit.start)
    return all(covered)


def _name_words(words: list[str]) -> list[str]:
    """The words to check, without the "et" that joins two capitalised names."""
    return [
        word
        for i, word in enumerate(words)
        if not (
            word.lower() in _NAME_AND
            and 0 < i < len(words) - 1
            and words[i - 1][:1].isupper()
            and words[i + 1][:1].isupper()
        )
    ]


def _name_or_none(candidate: str) -> str | None:
    words = candidate.split()
    while words and normalize(words[-1]) in _NAME_POLITE_END:
        words.pop()
    name = " ".join(words).strip(" ,-'’\"«»")
    if not _INITIAL_LAST.search(name):  # "Marie D." keeps its initial's dot
        name = name.rstrip(" ,.-'’\"«»")
    if not 2 <= len(name) <= _MAX_NAME_LEN or not any(ch.isalpha() for ch in name):
        return None
    if any(not (ch.isalpha() or ch in " -'’.,&") for ch in name if not unicodedata.combining(ch)):
        return None
    if name.split()[0] in _NAME_LOWER_FILLERS or len(name.split()) > _MAX_NAME_WORDS:
        return None
    tokens = _tokens(_INITIAL.sub(" ", " ".join(_name_words(name.split()))))
    if not tokens or all(t in _CIVILITIES for t in tokens):
        return None
    if any(t in _NAME_STOPWORDS for t in tokens) or _answers_something_else(tokens) or parse_command(name):
        return None
    return name


def _before_sentence(candidate: str) -> str:
    """The words before the sentence goes on ("Marie et j'ai cassé mes lunettes" -> "Marie")."""
    kept: list[str] = []
    for word in candidate.split():
        if any(t in _NAME_STOPWORDS for t in _tokens(word)):
            break
        kept.append(word)
    return " ".join(kept)


def parse_name(text: str) -> str | None:
    """A person's name, intro words stripped ("je m'appelle", "moi c'est", "my name is").

    None for a question, a moment ("samedi"), an address, a phone number, a hesitation or an
    answer to another question: the name is asked again rather than a wrong one recorded. A
    request made for someone else names them after a comma or a colon ("c'est pour mon père :
    Gérard Lefèvre", "this is for my wife, Laura Bianchi")."""
    found = _name_in(text)
    if found is not None:
        return found
    parts = [part for part in _FOR_SOMEONE_MARK.split(text[: _MAX_NAME_LEN * 4]) if part.strip()]
    if len(parts) >= 2 and _FOR_SOMEONE & set(_tokens(parts[0])):
        return _name_in(parts[-1])
    return None


# What separates the person a request is for from their name: a comma or a colon.
_FOR_SOMEONE_MARK: Final = re.compile(r"[,:]")


def _name_in(text: str) -> str | None:
    head = text[: _MAX_NAME_LEN * 4].strip()
    then_phone = _NAME_THEN_PHONE.match(head)
    if then_phone and parse_phone(then_phone.group("phone")):
        head = then_phone.group("name")
    if _URL.search(head) or any(ch.isdigit() or ch in "?¿" for ch in head):
        return None
    intro = _NAME_INTRO.match(head)
    rest = head[intro.end() if intro else 0 :]
    if intro and intro.group("weak") and rest[:1].islower():
        return None
    rest = _NAME_FIELD.sub(" ", rest)
    rest = "".join(" " if unicodedata.category(ch)[0] in "SCZ" and ch != "\u200d" else ch for ch in rest)
    rest = _GLUED_DOT.sub(" ", _NAME_CUT.split(rest, maxsplit=1)[0]).translate(_NAME_SPACES)
    parts = [part for part in rest.split(",") if part.strip()]
    tries = [rest, rest.split(",", 1)[0], rest.split("(", 1)[0]]
    if len(parts) == 2 and all(map(_name_or_none, parts)):  # "Dubois, Marie"
        tries.insert(0, " ".join(parts))
    before = _before_sentence(tries[1])
    if intro and intro.group("strong"):
        tries.append(before)
    elif len(before.split()) >= 2 and all(word[:1].isupper() for word in before.split()):
        tries.append(before)  # "Marie Dubois je suis infirmière"
    return next((name for name in map(_name_or_none, tries) if name), None)


# ------------------------------------------------------------------------- choice number

_CHOICE: Final = re.compile(
    r"(?:n\s*[°o]\s*\.?|no\.?|num(?:ero)?\.?|#|option|choix|choice|le|la|the)?\s*(\d{1,3})\s*[.)\]]?"
)
_NUMBER_WORDS: Final[Mapping[str, int]] = {
    **dict.fromkeys(("un", "une", "one", "premier", "premiere", "first"), 1),
    **dict.fromkeys(("deux", "two", "deuxieme", "second", "seconde"), 2),
    **dict.fromkeys(("trois", "three", "troisieme", "third"), 3),
    **dict.fromkeys(("quatre", "four", "quatrieme", "fourth"), 4),
    **dict.fromkeys(("cinq", "five", "cinquieme", "fifth"), 5),
}
_CHOICE_FILLERS: Final = frozenset({"le", "la", "l", "the", "option", "choix", "choice", "numero"})


def parse_choice_number(text: str, count: int) -> int | None:
    """0-based index when the whole message is a number 1..count ("2", " 2. ", "n°2")."""
    stripped = text.strip()
    if count < 1 or not stripped or len(stripped) > 30:
        return None
    plain = _fold(unicodedata.normalize("NFKC", stripped)).replace("\ufe0f", "").replace("\u20e3", "")
    match = _CHOICE.fullmatch(plain.strip())
    number: int | None = int(match.group(1)) if match else None
    if number is None:
        words = [w for w in normalize(plain).split() if w not in _CHOICE_FILLERS]
        number = _NUMBER_WORDS.get(words[0]) if len(words) == 1 else None
    return number - 1 if number is not None and 1 <= number <= count else None
