"""Each question's own ways of saying yes or no: urgency, the visit's consent, the waiting
list, the erasure of the data, the prescription said missing.

Each table is read by :func:`flows.yes_no.parse_yes_no` before the general words.
"""

from __future__ import annotations

from typing import Final

from flows.needs import parse_mode
from flows.text import _MAX_SCAN, KNOWN_WORDS, _keyword_tokens, _Matcher
from flows.yes_no import WIDE_NEGATORS, parse_yes_no

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
            # work said the way it is spoken ("j'en ai besoin pour le taf")
            "pour le boulot", "pour mon boulot", "pour le taf", "pour mon taf", "pour le job",
            "pour mon job", "for my job", "for my work",
            # driving for a living: a driver cannot wait
            "routier", "routiere", "chauffeur", "chauffeuse", "conducteur", "conductrice",
            "conduis", "reprends la route", "reprendre la route", "prends la route",
            "drive for a living", "i drive", "driver", "truck driver",
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

KNOWN_WORDS.update(
    *(matcher.vocabulary for matcher in (_URGENCY, _CONSENT, _WAITLIST, _DELETE)), _PRESCRIPTION.vocabulary
)


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
    return any(tokens[k] in WIDE_NEGATORS for k in range(max(0, start - reach), start))
