"""Free-text readers of flows.parsing: real-looking answers, typos, traps, fuzzing, speed."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.insurers import MAX_INSURER_LENGTH, parse_insurance
from flows.parsing import (
    Command,
    HalfDay,
    HalfDayPart,
    Mode,
    Need,
    Priority,
    SummaryAction,
    department_of,
    has_street,
    normalize,
    parse_choice_number,
    parse_command,
    parse_consent,
    parse_erase,
    parse_half_day,
    parse_mode,
    parse_name,
    parse_need,
    parse_no_prescription,
    parse_phone,
    parse_postcode,
    parse_priority,
    parse_summary,
    parse_urgency,
    parse_waitlist,
    parse_yes_no,
)
from flows.steps import STEPS, Hint
from flows.text import _Matcher
from flows.types import SERVICE_TIME_ZONE, FlowContext

TODAY = date(2026, 11, 26)  # a Thursday
CTX = FlowContext(now=datetime(2026, 11, 26, 8, 0, tzinfo=SERVICE_TIME_ZONE), new_reference=lambda: "OB-T")


def _slug(text: str) -> str:
    if not text.strip():
        return "blank"
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")[:40] or f"u{ord(text[0]):x}"


def cases(table: Sequence[tuple[Any, ...]]) -> list[Any]:
    """pytest params whose id is the message, readable in reports."""
    return [pytest.param(*row, id=_slug(str(row[0]))) for row in table]


# ------------------------------------------------------------------------------- normalize

NORMALIZE = [
    ("J’ai cassé mes LUNETTES !! 😭", "j ai casse mes lunettes"),
    ("  Aide-soignante,   EHPAD… ", "aide soignante ehpad"),
    ("ŒIL ﬁn Straße", "oeil fin strasse"),
    ("après-midi\n\tdemain", "apres midi demain"),
    ("", ""),
    ("😀🙏", ""),
]


@pytest.mark.parametrize(("text", "expected"), cases(NORMALIZE))
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


# ---------------------------------------------------------------------------------- yes/no

YES_NO = [
    ("oui", True),
    ("Oui.", True),
    ("OUI !!!", True),
    ("ouais", True),
    ("ouai", True),
    ("ouiii", True),
    ("ok", True),
    ("Okay 👍", True),
    ("d'accord", True),
    ("daccord", True),
    ("D’accord merci", True),
    ("dac", True),
    ("bien sûr", True),
    ("bien sur", True),
    ("absolument", True),
    ("exact", True),
    ("exactement", True),
    ("tout à fait", True),
    ("tout a fait", True),
    ("volontiers", True),
    ("je confirme", True),
    ("c'est ça", True),
    ("cest ca", True),
    ("oui c'est bien mon numéro", True),
    ("aucun problème", True),
    ("pas de souci", True),
    ("oui pas de souci", True),
    ("si", True),
    ("yes", True),
    ("yep", True),
    ("sure", True),
    ("yes please", True),
    ("👍", True),
    ("✅", True),
    ("non", False),
    ("Non.", False),
    ("NON !!", False),
    ("nan", False),
    ("nonnn", False),
    ("non merci", False),
    ("pas vraiment", False),
    ("pas du tout", False),
    ("jamais", False),
    ("aucun", False),
    ("pas d'accord", False),
    ("pas tout à fait", False),
    ("c'est pas ça", False),
    ("non c'est pas ça", False),
    ("bien sûr que non", False),
    ("ça marche pas", False),
    ("no", False),
    ("nope", False),
    ("not really", False),
    ("no thanks", False),
    ("👎", False),
    ("carrément pas", False),
    ("nn", False),
    ("je pense pas", False),
    ("bah oui", True),
    ("non, je ne suis pas mobilisé", False),
    # "c'est bon" is a yes, but the no's own just after one
    ("c'est bon", True),
    ("nn c bon", False),
    ("non merci, c'est bon", False),
    ("no, it's fine", False),
    ("c'est bon, non", None),  # a yes, then a no
    # unknown or ambiguous
    ("bof", None),
    ("peut-être", None),
    ("peut etre", None),
    ("je ne sais pas", None),
    ("jsp", None),
    ("pas sûr", None),
    ("maybe", None),
    ("mouais", None),
    ("lol", None),
    ("oui non", None),
    ("ok non", None),
    ("👍👎", None),
    ("pourquoi pas", None),
    ("hope", None),
    ("", None),
    ("   ", None),
    ("?", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(YES_NO))
def test_parse_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) is expected


@pytest.mark.parametrize("text", ["non", "nan", "no", "nope", "non merci", "pas vraiment", "nonnn"])
def test_no_never_reads_as_yes(text: str) -> None:
    assert parse_yes_no(text) is False
    assert parse_yes_no(text.upper() + " !") is False


# ------------------------------------------------------------------------------------ need

NEED: list[tuple[str, Need | None]] = [
    ("cassées", "broken"),
    ("cassees", "broken"),
    ("jai casse mes lunettes", "broken"),
    ("J'ai cassé mes lunettes 😭", "broken"),
    ("mes lunettes sont brizées", "broken"),
    ("elles sont abîmées", "broken"),
    ("le verre est fissuré", "broken"),
    ("la monture est toute tordue", "broken"),
    ("branche cassée", "broken"),
    ("verre fendu", "broken"),
    ("je me suis assis dessus", "broken"),
    ("broken", "broken"),
    ("my glasses are cracked", "broken"),
    ("perdu", "lost"),
    ("j'ai perdu mes lunettes", "lost"),
    ("jai perdu mes lunetes", "lost"),
    ("je les ai égarées", "lost"),
    ("introuvables depuis hier", "lost"),
    ("on m'a volé mes lunettes", "lost"),
    ("volées dans le métro", "lost"),
    ("pas cassées mais perdues", "lost"),
    ("elles sont pas cassées, juste perdues", "lost"),
    ("non, cassées", "broken"),
    ("lost", "lost"),
    ("elles ne me conviennent plus", "unsuitable"),
    ("elles ne sont plus adaptées", "unsuitable"),
    ("je vois mal avec, j'ai une nouvelle ordonnance", "unsuitable"),
    ("mon ordonnance a changé", "unsuitable"),
    ("ma vue a baissé", "unsuitable"),
    ("unsuitable", "unsuitable"),
    ("I have a new prescription", "unsuitable"),
    ("renouvellement", "renewal"),
    ("renouvellement d'ordonnance", "renewal"),
    ("lentilles", "lenses"),
    ("c'est pour une question", "other"),
    ("rendez-vous de contrôle", "other"),
    ("autre chose", "other"),
    ("something else", "other"),
    ("other", "other"),
    ("rien de cassé, je veux juste faire contrôler ma vue", "other"),  # "rien de" negates
    ("nothing broken, just a checkup", "other"),
    ("rien de cassé", None),
    ("une vis est partie et le verre se balade", "broken"),  # a part gone, a part loose
    ("tombées à l'eau depuis le bateau, on les a jamais revues", "lost"),
    ("tombées à l'eau", "lost"),  # fallen where they are gone
    ("on les a jamais revues", "lost"),  # never seen again
    ("je les ai jamais retrouvées", "lost"),
    ("fell in the water", "lost"),
    ("je les nettoie à l'eau", None),  # water, nothing fallen into it
    ("un verre est tombé dans l'eau", None),  # a part fallen (broken) and gone (lost): which?
    ("le verre bouge", "broken"),
    ("le verre se balade", "broken"),
    ("une vis est partie", "broken"),
    ("je suis partie en vacances", None),  # gone, but no part of the glasses
    ("bof", None),
    ("ordonnance", None),
    ("pas cassées", None),
    ("la caisse", None),  # a correctly spelt other word is not a typo of "cassé"
    ("lol", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(NEED))
def test_parse_need(text: str, expected: Need | None) -> None:
    assert parse_need(text) == expected


# ------------------------------------------------------------------------------------ mode

MODE: list[tuple[str, Mode | None]] = [
    ("à domicile", "visit"),
    ("a domicle", "visit"),
    ("chez moi", "visit"),
    ("au travail", "visit"),
    ("sur mon lieu de travail", "visit"),
    ("une visite svp", "visit"),
    ("pouvez-vous venir ?", "visit"),
    ("passez à la maison chez moi", "visit"),
    ("home visit", "visit"),
    ("at home", "visit"),
    ("envoi", "shipment"),
    ("envoyez-les moi", "shipment"),
    ("par la poste", "shipment"),
    ("livraison", "shipment"),
    ("livraison à domicile", "shipment"),
    ("envoyer chez moi", "shipment"),
    ("par colis", "shipment"),
    ("chronopost", "shipment"),
    ("expédition", "shipment"),
    ("pas de visite, envoyez-les", "shipment"),
    ("ship", "shipment"),
    ("delivery", "shipment"),
    ("post", "shipment"),
    ("je préfère qu'on me les livre", "shipment"),  # "livré" without its accent
    ("livré à domicile", "shipment"),
    ("il faut payer la livraison ?", None),  # a question on the terms is no choice
    ("la visite est gratuite ?", None),
    ("livraison gratuite", "shipment"),  # ... but said without a question mark, a choice
    ("bof", None),
    ("venir ou envoyer, je ne sais pas", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(MODE))
def test_parse_mode(text: str, expected: Mode | None) -> None:
    assert parse_mode(text) == expected


# -------------------------------------------------------------------------------- priority

PRIORITY: list[tuple[str, Priority | None]] = [
    ("infirmiere", "health"),
    ("Infirmière", "health"),
    ("je suis infirmier aux urgences", "health"),
    ("médecin", "health"),
    ("medecin generaliste", "health"),
    ("aide-soignante en EHPAD", "health"),
    ("aide soignante", "health"),
    ("je travaille à l'hôpital", "health"),
    ("pharmacien", "health"),
    ("sage-femme", "health"),
    ("kiné", "health"),
    ("ambulancier", "health"),
    ("nurse", "health"),
    ("doctor", "health"),
    ("caissière", "food_retail"),
    ("caissiere au supermarché", "food_retail"),
    ("boulanger", "food_retail"),
    ("je travaille dans une épicerie", "food_retail"),
    ("boucher", "food_retail"),
    ("cashier", "food_retail"),
    ("livreur", "delivery"),
    ("livreuse", "delivery"),
    ("chauffeur-livreur", "delivery"),
    ("coursier à vélo", "delivery"),
    ("facteur", "delivery"),
    ("delivery driver", "delivery"),
    ("pompier", "firefighter"),
    ("pompié", "firefighter"),
    ("sapeur-pompier volontaire", "firefighter"),
    ("pompière volontaire dans le Jura", "firefighter"),  # the feminine
    ("pompiere", "firefighter"),
    ("je livre des pizzas le soir en scooter", "delivery"),  # delivering said as a verb
    ("I deliver parcels", "delivery"),
    ("firefighter", "firefighter"),
    ("autre", "other"),
    ("autre métier mobilisé", "other"),
    ("policier", "other"),
    ("gendarme", "other"),
    ("éboueur", "other"),
    ("other", "other"),
    ("non, je suis caissière", "food_retail"),
    ("je travaille chez Carrefour", "food_retail"),
    ("infirmière mais pas mobilisée", None),
    ("j'ai cassé mes lunettes", None),
    ("non", "none"),
    ("je ne suis pas mobilisé", "none"),
    ("je ne suis pas mobilisée", "none"),
    ("pas mobilisé", "none"),
    ("aucun", "none"),
    ("pas du tout", "none"),
    ("none", "none"),
    ("not mobilised", "none"),
    ("no", "none"),
    ("bof", None),
    ("je suis mobilisé", None),
    ("lol", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(PRIORITY))
def test_parse_priority(text: str, expected: Priority | None) -> None:
    assert parse_priority(text) == expected


# ------------------------------------------------ as clients in a hurry write (issue 14)

# Damage told rather than named, typos and texting on the key word, negations that pick a side.
NEED_AS_WRITTEN: list[tuple[str, Need | None]] = [
    ("j'ai marché sur mes lunettes", "broken"),
    ("un verre est tombé", "broken"),
    ("la branche s'est détachée", "broken"),
    ("les vis sont desserrées", "broken"),
    ("elles sont en mille morceaux", "broken"),
    ("i sat on my glasses", "broken"),
    ("a lens fell out", "broken"),
    ("j'ai perdu une vis, la branche ne tient plus", "broken"),  # a lost screw is damage
    ("j'ai perdu un verre", "broken"),
    ("jai kassé mes lunettes", "broken"),  # "k" for a hard "c"
    ("lunettes kc", "broken"),
    ("pas perdues, cassées", "broken"),  # the "pas" is the first word's, not the second's
    ("mes lunettes sont cassées, pas perdues", "broken"),
    ("c'est pas cassé c'est perdu", "lost"),
    ("je les ai laissées dans un taxi", "lost"),
    ("impossible de les retrouver", "lost"),
    ("g perdu mes lunettes", "lost"),
    ("ma vue a changée", "unsuitable"),
    ("la correction n'est plus bonne", "unsuitable"),
    ("ma correction a changé", "unsuitable"),
    ("il faudrait réparer mes lunettes", "broken"),
    ("j'ai laissé mes lunettes au cinéma", "lost"),
    # what must not be read as a need
    ("mes lunettes sont tombées", None),  # fell, but broken is not said
    ("je vis seule et mes lunettes sont tombées", None),  # "vis" the verb, far from the fall
    ("j'ai perdu mon étui", None),  # the case, not the glasses
    ("cassées ou perdues, je ne sais plus", None),  # both: ask again
    ("ma vue n'a pas changé", None),
    ("elles ne sont pas du tout cassées", None),  # "du tout" does not stop the negation
    ("c'est quoi la différence entre cassées et perdues ?", None),  # a question back
    ("l'ophtalmo a augmenté ma correction", "unsuitable"),  # the sight said stronger
    ("my eyesight has increased", "unsuitable"),
    ("le prix a augmenté", None),  # more, but not of the sight
    ("je voudrais des lunettes de soleil", "other"),
    ("j'ai cassé mes lunettes de soleil", "broken"),  # broken first
    ("my glasses fell in the lake", "lost"),  # fallen where they are gone
    ("they fell into the river", "lost"),
    ("I swim in the lake", None),  # the water, nothing fallen into it
]


@pytest.mark.parametrize(("text", "expected"), cases(NEED_AS_WRITTEN))
def test_parse_need_as_written(text: str, expected: Need | None) -> None:
    assert parse_need(text) == expected


YES_NO_AS_WRITTEN: list[tuple[str, bool | None]] = [
    ("validé", True),
    ("c'est tout bon", True),
    ("go", True),
    ("parfait merci", True),
    ("c bon", True),
    ("d'acc", True),
    ("non c'est bon", False),  # "no thanks": the longer phrase wins over "c'est bon"
    ("nan c'est bon", False),
    ("pas la peine", False),
    ("non mrci", False),
    ("I'd rather not", False),
    ("c'est quoi ?", None),  # a question back is no answer
    ("pourquoi pas", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(YES_NO_AS_WRITTEN))
def test_parse_yes_no_as_written(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) is expected


URGENCY: list[tuple[str, bool | None]] = [
    ("urgant", True),  # a typo on the key word
    ("pas urgant", False),  # ... still negated
    ("ce n'est pas urgent", False),
    ("pas pressé", False),
    ("j'ai une paire de secours", False),
    ("je n'ai pas de paire de secours", True),  # the spare pair negated: urgent
    ("oui, je n'ai pas de paire de secours", True),
    ("I have no spare pair", True),  # the "no" is the pair's, not an answer
    ("je ne peux pas conduire sans", True),
    ("je n'en ai pas besoin pour travailler", False),
    ("ça peut attendre", False),
    ("ça ne peut pas attendre", True),
    ("c'est quoi une paire de secours ?", None),
    ("oui et non", None),
    ("euh je sais pas trop", None),  # unsure, though "pas trop" alone is a no
    ("non pas du tout urgent", False),  # "pas" reaches past "du tout"
    ("pa urgent", False),  # "pa" is the texting "pas"
    ("c pa urgent", False),
    ("ce n'est plus urgent", False),  # "ne ... plus" negates
    ("je n'ai plus de paire de secours", True),
    ("c'est plus urgent", None),  # more urgent, or no longer? Ask again
    ("not really, no rush", False),  # "no rush" is a no already: "not" does not turn it over
    ("oiu", True),  # two letters swapped in a three-letter word
    ("nno", False),
    ("pas tant que ça", False),
    ("not that much", False),
    ("rien d'urgent", False),  # "rien de" negates
    ("nothing urgent", False),
    ("grave", True),  # slang "totally"
    ("pas grave", False),
    ("j'ai rien pour dépanner", True),  # no spare pair
    ("j'ai une paire pour dépanner", False),
    ("je n'ai pas de quoi me dépanner", True),
    # a spare pair said, then gone: none, a yes ("partie" is no "no")
    ("mon ancienne paire est partie à la poubelle", True),
    ("j'ai rien pour dépanner, mon ancienne paire est partie à la poubelle", True),
    ("my spare pair is broken as well", True),
    ("ma paire de secours a été jetée", True),
    ("à la poubelle", None),  # gone, but no spare pair said before it
    ("je dois conduire pour aller bosser lundi", True),  # the question's own examples
    ("I have to drive tomorrow", True),
    ("bof pas tant que ça", False),  # a hesitation, then a clear no
    ("bof, non", False),
    ("bof oui", None),  # a hesitation, then a yes: not sure
    ("bof", None),
    ("c'est urgent ?", None),  # a question back of the question's own words
    # "aucune" just before turns the question's own word over, and is no general "no"
    ("aucune paire de rechange", True),
    ("j'ai aucune paire de secours", True),
    ("aucune urgence", False),
    ("une paire de rechange", False),
    # a hedge is no answer
    ("ça dépend de ce que vous appelez urgent", None),
    ("ça dépend, c'est urgent", None),
    ("it depends", None),
    ("pas la peine de se presser", False),  # a needless "de" turns "pressé" over
    ("g besoin pr le taf", True),  # work as it is spoken
    ("j'en ai besoin pour le boulot", True),
    ("je suis routier, je reprends la route lundi", True),  # driving for a living
    ("routier", True),
    ("I drive for a living", True),
    ("je conduis pas, j'ai une vieille paire", False),
    ("nn c bon j'ai une vieille paire", False),  # "c bon" after a no is that no's
]


@pytest.mark.parametrize(("text", "expected"), cases(URGENCY))
def test_parse_urgency(text: str, expected: bool | None) -> None:
    assert parse_urgency(text) is expected


CONSENT: list[tuple[str, bool | None]] = [
    ("jaccepte", True),  # the elision glued to the keyword is split off
    ("j'acepte", True),
    ("je n'accepte pas", False),
    ("je ne refuse pas", True),  # a step's own "no" negated is a yes
    ("j'ai peur du virus, envoyez-les", False),  # a shipping wish refuses the visit
    ("il aura un masque ?", None),
    ("daccor", True),  # "d'accord" glued and misspelt
    ("dacord", True),
]


@pytest.mark.parametrize(("text", "expected"), cases(CONSENT))
def test_parse_consent(text: str, expected: bool | None) -> None:
    assert parse_consent(text) is expected


WAITLIST: list[tuple[str, bool | None]] = [
    ("prévenez moi", True),
    ("tenez-moi au courant", True),
    ("non ça ira merci", False),
    ("je vais chercher ailleurs", False),
    ("nan c bon", False),  # "c bon" is a yes, but "non c'est bon" a polite no
    ("non c ok", False),
    ("oui c bon", True),
    ("combien de temps ?", None),
    # what follows a needless "pas la peine de", "pas besoin de", "no need to" is not wanted
    ("nan, pas la peine de me prévenir", False),
    ("pas besoin de me tenir au courant", False),
    ("plus besoin de me prévenir", False),
    ("inutile de me prévenir", False),
    ("no need to let me know", False),
    ("j'ai besoin de savoir, prévenez-moi", True),  # a need said, no negation: a yes
]


@pytest.mark.parametrize(("text", "expected"), cases(WAITLIST))
def test_parse_waitlist(text: str, expected: bool | None) -> None:
    assert parse_waitlist(text) is expected


ERASE: list[tuple[str, bool | None]] = [
    ("vas-y efface tout", True),
    ("oui supprimez tout", True),
    ("je veux continuer", False),
    ("non je garde", False),
    ("n'effacez rien", False),
    ("ne supprimez pas", False),
    ("c'est définitif ?", None),
    ("qu'est-ce qui sera effacé ?", None),  # a question back, though it names erasing
    ("attendez, ma demande sera annulée aussi ?", None),  # "annulée" asked about, no "annuler"
    ("tout sera supprimé ?", None),
    ("oui ? effacez", True),  # a general yes in it: an answer
    # a "ne rien" before, or a "rien"/"anything" after a negated word, turns it over
    ("NON NE RIEN EFFACER", False),
    ("no, don't delete anything", False),
    ("je préfère ne rien supprimer", False),
    ("je ne garde rien, effacez", True),
    ("don't keep anything", True),
    ("non rien, on continue", False),  # "rien" not after "ne": no "ne rien continuer"
    ("effacez tout, rien d'autre", True),  # "rien" after, but nothing negated
    ("no continue", False),  # an English "no" is no determiner of a verb
]


@pytest.mark.parametrize(("text", "expected"), cases(ERASE))
def test_parse_erase(text: str, expected: bool | None) -> None:
    assert parse_erase(text) is expected


NO_PRESCRIPTION: list[tuple[str, bool]] = [
    ("je n'en ai pas", True),
    ("jen ai pas", True),
    ("jai pas d'ordo", True),
    ("pas d'ordonance", True),  # a typo on the key word
    ("je n'ai pas encore d'ordonnance", True),  # the negation a little further
    ("je l'ai perdue", True),
    ("non", True),
    ("I don't have one", True),
    ("j'ai pas de scanner", False),  # a "pas" that is not about the prescription
    ("non je l'ai pas sous la main", False),  # it exists: it will come
    ("je vous l'envoie ce soir", False),
    ("oui j'en ai une", False),
    ("ORDO PÉRIMÉE ET PAS DE NOUVELLE", True),  # the new one said none
    ("mon ordonnance est périmée", False),  # out of date, but there is one
    ("pas encore de nouvelle", True),
    ("j'ai une nouvelle ordonnance", False),
    ("mon ophtalmo m'a rien donné", True),
    ("il m'a rien prescrit", True),
    ("the eye doctor gave me nothing", True),
]


@pytest.mark.parametrize(("text", "expected"), cases(NO_PRESCRIPTION))
def test_parse_no_prescription(text: str, expected: bool) -> None:
    assert parse_no_prescription(text) is expected


SUMMARY: list[tuple[str, SummaryAction | None]] = [
    ("validé", "confirm"),
    ("envoyez la demande", "confirm"),
    ("oui, le numéro est bon", "confirm"),  # a field said right is no change
    ("oui c'est bien mon numéro", "confirm"),
    ("changer l'adresse", "change_address"),
    ("adrese", "change_address"),  # a typo on the field
    ("le nom est bon mais pas l'adresse", "change_address"),
    ("l'adresse est bonne mais le nom est faux", "change_name"),
    ("tout est bon sauf le téléphone", "change_phone"),
    ("le tel est faux", "change_phone"),
    ("changer le nom, le reste est bon", "change_name"),
    ("plutôt jeudi", "change_slot"),
    ("changer l'heure", "change_slot"),
    ("plutôt par la poste", "change_mode"),
    ("oui mais changez le nom", "change_name"),
    ("il manque le code d'entrée", "change_address"),  # a detail of the address
    ("non c'est le 06 12 34 56 78", "change_phone"),  # a number typed: the phone to change
    ("oui c'est bien le 06 12 34 56 78", "confirm"),  # ... unless it is confirmed
    ("oui tout est bon, c'est bien au 2e étage", "confirm"),
    ("l'adresse est bonne et le nom faux", None),  # approving and changing two things at once
    # A word spelt out is the name's, unless another thing is named in the clause.
    ("c'est Dupond avec un d, pas Dupont", "change_name"),
    ("ça s'écrit avec un y", "change_name"),
    ("it's spelt with two n", "change_name"),
    ("la rue s'écrit avec deux l", "change_address"),
    ("Dupont avec un t, c'est bien ça", "confirm"),  # the spelling approved
    ("avec un autre numéro", "change_phone"),  # "avec un" and a word: nothing spelt
    ("envoyez-les moi", None),  # not the request: the glasses
    ("je préfère finalement qu'on me les envoie", "change_mode"),  # ... said as a change
    ("I'd rather you ship them", "change_mode"),
    ("c pas le bon créno", "change_slot"),  # "créno" is "créneau" as it sounds
    ("changer la mutuelle", "change_insurance"),
    ("tout est bon sauf la mutuelle", "change_insurance"),
    ("je me suis trompé de mutuelle", "change_insurance"),
    ("c pas la bonne mutuel", "change_insurance"),  # a typo on the field
    ("en fait je n'ai pas de mutuelle", "change_insurance"),
    ("change my insurer", "change_insurance"),
    ("oui, la mutuelle est bonne", "confirm"),  # a field said right is no change
    ("oui c'est bien la MGEN", "confirm"),
    ("non", None),
    ("non c'est pas bon", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(SUMMARY))
def test_parse_summary(text: str, expected: SummaryAction | None) -> None:
    assert parse_summary(text) == expected


# Words of everyday French are never read as a typo of a keyword of another language or table.
FALSE_FRIENDS: list[tuple[Callable[[str], object], str]] = [
    (parse_mode, "comme vous voulez"),  # "comme" is not "come"
    (parse_mode, "c'est quoi chronopost ?"),  # a question back, not a choice
    (parse_mode, "recevoir l'opticien chez moi"),  # to receive (a parcel) and the optician: which?
    (parse_need, "la caisse"),  # "caisse" is not "cassé"
    (parse_need, "je vis ici"),  # "vis" alone is no damage
    (parse_priority, "ma femme est infirmière"),  # someone else's job
    (parse_priority, "oui"),  # mobilised, but as what?
    (parse_priority, "je suis plus infirmière"),  # no longer, without its "ne"
    (parse_mode, "plus de visite"),  # no more visits, or more of them?
    (parse_mode, "pots"),  # a swap is allowed in three letters only: "pots" is not "post"
]


@pytest.mark.parametrize(("read", "text"), [pytest.param(r, t, id=_slug(t)) for r, t in FALSE_FRIENDS])
def test_false_friends_are_not_answers(read: Callable[[str], object], text: str) -> None:
    assert read(text) is None


def test_a_typo_reads_as_the_closest_keyword() -> None:
    """Two keywords of different labels both within a typo's reach: the closer one wins, whatever
    the table's order ("pompière" was once read "postière", a delivery)."""
    matcher = _Matcher({"far": ("bortelle",), "near": ("bartello",)})
    assert [hit.label for hit in matcher.find(["bartelli"])] == ["near"]


PRIORITY_OF_THE_CLIENT: list[tuple[str, Priority]] = [
    ("non mais mon mari est infirmier", "none"),  # the husband's job, not the client's
    ("sage-femme", "health"),  # "femme" without "ma" is no relative
    ("je suis à la retraite", "none"),
]


@pytest.mark.parametrize(("text", "expected"), cases(PRIORITY_OF_THE_CLIENT))
def test_priority_of_the_client_not_a_relative(text: str, expected: Priority) -> None:
    assert parse_priority(text) == expected


# ----------------------------------------------------------------------- postcode and dept

POSTCODE: list[tuple[str, str | None]] = [
    ("75011", "75011"),
    ("12 rue de la Paix 75002 Paris", "75002"),
    ("12, rue de la Paix, 75002 PARIS", "75002"),
    ("75 011 Paris", "75011"),
    ("cp : 01000 Bourg-en-Bresse", "01000"),
    ("20090 Ajaccio", "20090"),
    ("20200 Bastia", "20200"),
    ("97110 Pointe-à-Pitre", "97110"),
    ("97400 Saint-Denis", "97400"),
    ("97600 Mamoudzou", "97600"),
    ("98000 Monaco", "98000"),
    ("2 bis rue Victor Hugo, 33000 Bordeaux", "33000"),
    ("tél 06 12 34 56 78, 13001 Marseille", "13001"),
    ("12345 rue du Bac 69001 Lyon", "69001"),
    ("75", None),
    ("0612345678", None),
    ("06 12 34 56 78", None),
    ("123456", None),
    ("00123", None),
    ("96000", None),
    ("99000", None),
    ("97900", None),
    ("15000 euros", None),
    ("le 12/12/2026", None),
    ("lol", None),
    ("", None),
    ("45 avenue du 8 mai 1945 69008 Lyon", "69008"),  # a year before the code is no phone
    ("ZI des Milles, BP 40012, 13591 Aix-en-Provence CEDEX 3", "13591"),  # a box is no code
    ("La Poste, TSA 12345, 92120 Montrouge", "92120"),
    ("CS 70001", None),
    ("digicode 45210, 12 rue X 75002 Paris", "75002"),  # a door code is no postal code
    ("12 rue X, bâtiment 12345, 75002 Paris", "75002"),
    ("12 rue de la Paix 75002 Paris ou 8 avenue Foch 75116 Paris", None),  # which one?
    ("Commande 12345, 12 rue X 75002 Paris", "75002"),  # the code before its town wins
    ("06 12 34 56 78 75011 Paris", None),  # glued to a phone number: not taken apart
]


@pytest.mark.parametrize(("text", "expected"), cases(POSTCODE))
def test_parse_postcode(text: str, expected: str | None) -> None:
    assert parse_postcode(text) == expected


DEPARTMENT = [
    ("75011", "75"),
    ("01000", "01"),
    ("13001", "13"),
    ("20000", "2A"),
    ("20090", "2A"),
    ("20167", "2A"),
    ("20200", "2B"),
    ("20600", "2B"),
    ("97110", "971"),
    ("97400", "974"),
    ("97600", "976"),
    ("97500", "975"),
    ("97700", None),  # Saint-Barthélemy and Saint-Martin's own codes, Monaco, the Pacific:
    ("97800", None),  # no department of ours
    ("98000", None),
    ("98800", None),
    ("", None),
]


@pytest.mark.parametrize(("postcode", "expected"), cases(DEPARTMENT))
def test_department_of(postcode: str, expected: str | None) -> None:
    assert department_of(postcode) == expected


STREET: list[tuple[str, bool]] = [
    ("12 rue de la Paix  Paris", True),
    ("7bis bd Gambetta  Nice", True),
    ("lieu-dit Les Granges  Sarlat", True),
    ("Le Bourg  Bozouls", True),
    ("Rés. les Flamboyants bât C  Kourou", True),
    ("BP 40012,  Aix CEDEX", True),
    (" Paris", False),
    ("mon code postal c'est ", False),
    ("Paris 2e", False),
    ("je suis à 10 minutes de ", False),  # a quantity is no house number
    ("j'ai 2 paires,  Paris", False),
    ("EHPAD Les Lilas  Bordeaux", True),
    ("06 12 34 56 78", False),
    # the street said unknown, or only spoken of: none given
    ("code postal  mais je connais pas le nom de la rue", False),
    (" Nantes, I don't know the street name", False),
    ("je sais plus la rue,  Nantes", False),
    ("code postal , la rue je vous la donne après", False),
    ("12 rue de la Paix  Paris, je connais pas le digicode", True),  # the unknown is another
    ("3 rue de la gare,  Nantes", True),
    ("Grande Rue  Nantes", True),
]


@pytest.mark.parametrize(("rest", "expected"), cases(STREET))
def test_has_street(rest: str, expected: bool) -> None:
    assert has_street(rest) is expected


# What the address steps read: the postal code, or why the address is asked again (a hint), or
# None (the step's own hint).
ADDRESS: list[tuple[str, str | None]] = [
    ("12 rue de la Paix 75002 Paris", "75002"),
    ("Hameau de Pralong, 73120 Courchevel", "73120"),
    ("5 cours Napoléon 20000 Ajaccio", "20000"),
    ("75002 Paris", "missing_street"),  # a town is nowhere to go
    ("mon code postal c'est 69003", "missing_street"),
    ("75002", "missing_street"),
    ("12 rue de la Paix Paris", "missing_postcode"),
    ("12 rue de la Paix 7500 Paris", "missing_postcode"),
    ("12 rue de la Paix 75002 Paris ou 8 avenue Foch 75116 Paris", None),  # not missing: two
    ("Gare de Lyon 75012 Paris", "75012"),
    ("3 avenue de Monte-Carlo 98000 Monaco", None),  # not in France
    ("12 rue de la Paix 97700 Saint-Barthélemy", None),  # no department of ours
    ("samedi matin", None),
    ("Unter den Linden 10, 10115 Berlin, Allemagne", None),  # abroad: the step's own hint
    ("12 rue de la Gare, 1000 Bruxelles", None),
    ("12 Main Street, 10001 New York", None),  # a ZIP code like a French one
    ("Bd Zerktouni 20000 Casablanca", None),
    ("12 rue de Londres 75009 Paris", "75009"),  # a street named after a city abroad
    ("06 12 34 56 78", None),
    ("code postal 44000 mais je connais pas le nom de la rue", "missing_street"),
    ("code postal 44000, la rue je vous la donne après", "missing_street"),
]


@pytest.mark.parametrize(("text", "expected"), cases(ADDRESS))
def test_the_address_steps_take_a_whole_address_in_france(text: str, expected: str | None) -> None:
    for step in ("visit_address", "shipping_address"):
        reading = STEPS[step].read(text, CTX)
        if isinstance(reading, Hint):
            assert reading.key == f"{step}.{expected}"
        else:
            assert (reading[1]["postal_code"] if reading else None) == expected


# ----------------------------------------------------------------------------------- phone

PHONE: list[tuple[str, str | None]] = [
    ("06 12 34 56 78", "+33612345678"),
    ("06.12.34.56.78", "+33612345678"),
    ("0612345678", "+33612345678"),
    ("06-12-34-56-78", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "+33612345678"),
    ("+33612345678", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("mon numéro c'est le 06 12 34 56 78", "+33612345678"),
    ("01 42 68 53 00", "+33142685300"),
    ("+262 692 12 34 56", "+262692123456"),
    ("0692 12 34 56", "+262692123456"),
    ("+590 690 12 34 56", "+590690123456"),
    ("+596 696 12 34 56", "+596696123456"),
    ("+594 694 12 34 56", "+594694123456"),
    ("+269 321 23 45", "+2693212345"),
    ("+44 7911 123456", "+447911123456"),
    ("123456", None),
    ("0612", None),
    ("75002", None),
    ("06 12 34", None),
    ("pas de téléphone", None),
    ("", None),
    ("o6 12 34 56 78", "+33612345678"),  # a letter O for the zero
    ("O6.12.34.56.78", "+33612345678"),
    ("06/12/34/56/78", "+33612345678"),
    ("06,12,34,56,78", "+33612345678"),
    ("6 12 34 56 78", "+33612345678"),  # a mobile without its zero
    ("0️⃣6️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣", "+33612345678"),
    ("zéro six douze trente-quatre cinquante-six soixante-dix-huit", "+33612345678"),
    ("zero sept quatre-vingt-un vingt-deux trente-trois quarante-quatre", "+33781223344"),
    ("06 12 34 56 78 (mon mari : 07 81 22 33 44)", None),  # two numbers: which one?
    ("06 12 48 73 90 ou 07 62 15 48 90", None),
    ("0612345678, je répète 06 12 34 56 78", "+33612345678"),  # the same one twice
    ("+33 6 12 34 56 78 9", None),  # a digit too many: which one is wrong?
    ("06 12 34 56 78 90", None),
    ("j'ai un portable", None),
    ("12/12/2026", None),
    ("zero six one two three four five six seven eight", "+33612345678"),
    ("zéro six 12 34 56 78", "+33612345678"),
    ("j'ai un 06 12 34 56", None),
    ("07 12 45 78 96", "+33712457896"),  # not allocated, but typed as a number is
    ("+44 7911 654321", "+447911654321"),
    ("06 12 34 56 78 18h-20h", "+33612345678"),  # an hour is no digit too many
    ("0612345678 0612345678", "+33612345678"),
    ("06 12 34 56 7", None),
    ("+1 555 0100", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(PHONE))
def test_parse_phone(text: str, expected: str | None) -> None:
    assert parse_phone(text) == expected


# -------------------------------------------------------------------------------- half-day

# What a message says about when, as said (past or not); "asap": as soon as possible. Whether it
# can be booked is the calendar's call (tests/unit/test_visit_slot.py).
HALF_DAY: list[tuple[str, tuple[date, HalfDayPart | None] | str | None]] = [
    ("demain matin", (date(2026, 11, 27), "am")),
    ("Demain Matin !", (date(2026, 11, 27), "am")),
    ("demian matin", (date(2026, 11, 27), "am")),
    ("demain aprem", (date(2026, 11, 27), "pm")),
    ("demain am", (date(2026, 11, 27), "am")),
    ("demain 2pm", (date(2026, 11, 27), "pm")),
    ("lundi après-midi", (date(2026, 11, 30), "pm")),
    ("lundi apres midi", (date(2026, 11, 30), "pm")),
    ("lundi apremidi", (date(2026, 11, 30), "pm")),
    ("mecredi aprem", (date(2026, 12, 2), "pm")),
    ("jeudi matin", (date(2026, 12, 3), "am")),  # a weekday is never today
    ("jeudi 14h", (date(2026, 12, 3), "pm")),
    ("lundi 9h30", (date(2026, 11, 30), "am")),
    ("lundi 8h du soir", (date(2026, 11, 30), "pm")),
    ("samedi avant midi", (date(2026, 11, 28), "am")),
    ("dimanche matin", (date(2026, 11, 29), "am")),
    ("vendredi à midi", (date(2026, 11, 27), "pm")),
    ("aujourd'hui aprem", (date(2026, 11, 26), "pm")),
    ("aujourdhui matin", (date(2026, 11, 26), "am")),
    ("ce soir", (date(2026, 11, 26), "pm")),
    ("cet après-midi", (date(2026, 11, 26), "pm")),
    ("après-demain matin", (date(2026, 11, 28), "am")),
    ("le 12 matin", (date(2026, 12, 12), "am")),
    ("le 26 après-midi", (date(2026, 11, 26), "pm")),
    ("le 1er décembre matin", (date(2026, 12, 1), "am")),
    ("12/12 après-midi", (date(2026, 12, 12), "pm")),
    ("12/12/2026 matin", (date(2026, 12, 12), "am")),
    ("05/01 matin", (date(2027, 1, 5), "am")),
    ("demain matin vers 10h", (date(2026, 11, 27), "am")),
    ("tomorrow morning", (date(2026, 11, 27), "am")),
    ("monday afternoon", (date(2026, 11, 30), "pm")),
    ("december 3 afternoon", (date(2026, 12, 3), "pm")),
    ("demain", (date(2026, 11, 27), None)),  # a day without a part: the reader takes its first
    ("lundi", (date(2026, 11, 30), None)),
    ("le 12", (date(2026, 12, 12), None)),
    ("dem1 matin", (date(2026, 11, 27), "am")),  # texting, not "the 1st"
    ("noël", (date(2026, 12, 25), None)),
    ("hier", (date(2026, 11, 25), None)),  # past: the reader says so
    ("le 12/11 matin", (date(2026, 11, 12), "am")),
    ("20/11/2026 après-midi", (date(2026, 11, 20), "pm")),
    ("jeudi 3 décembre", (date(2026, 12, 3), None)),
    ("vendredi 3 décembre", None),  # the weekday and the date disagree
    ("matin", None),
    ("12/12/2099 matin", None),
    ("31/02 matin", None),
    ("lundi ou mardi matin", None),
    ("demain matin ou après-midi", None),
    ("dans 2 jours", (date(2026, 11, 28), None)),
    ("demain matin ou jeudi", None),  # two days offered: which one?
    ("pas demain", None),
    ("sauf lundi", None),
    ("dès que possible, sinon lundi", None),
    ("demain au plus tôt", (date(2026, 11, 27), None)),  # the day, as early as it can be
    ("quand vous voulez", "asap"),
    ("dès que possible", "asap"),
    ("le plus tôt possible", "asap"),
    ("au plus vite", "asap"),
    ("n'importe quand", "asap"),
    ("nimporte quand", "asap"),
    ("peu importe", "asap"),
    ("dqp", "asap"),
    ("tout de suite", "asap"),
    ("as soon as possible", "asap"),
    ("pas maintenant", None),
    # a weekday gone by: past (the reader says so)
    ("lundi dernier", (date(2026, 11, 23), None)),
    ("last monday", (date(2026, 11, 23), None)),
    ("jeudi passé", (date(2026, 11, 19), None)),  # a week ago, not today
    ("lundi passé 14h", (date(2026, 11, 30), "pm")),  # after 2 pm
    ("samedi dernier délai", (date(2026, 11, 28), None)),  # at the latest
    ("lundi de la semaine dernière", None),
    # a moment refused, then another said instead
    ("pas ce matin, mais cet après-midi", (date(2026, 11, 26), "pm")),
    ("pas demain, plutôt lundi", (date(2026, 11, 30), None)),
    ("not tomorrow but monday afternoon", (date(2026, 11, 30), "pm")),
    ("pas lundi mais pas mardi non plus, plutôt samedi", (date(2026, 11, 28), None)),
    ("demain, plutôt le matin", (date(2026, 11, 27), "am")),  # nothing refused
    ("pas le matin, mais demain", None),  # which half-day of it?
    ("pas demain, mais dès que possible", None),  # the first half-day may be tomorrow's
    ("demain mais pas le matin", None),
    ("je sais pas", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(HALF_DAY))
def test_parse_half_day(text: str, expected: tuple[date, HalfDayPart | None] | str | None) -> None:
    if expected == "asap":
        assert parse_half_day(text, TODAY) == HalfDay(TODAY, None, asap=True)
    else:
        assert parse_half_day(text, TODAY) == (HalfDay(*expected) if isinstance(expected, tuple) else None)


def test_half_day_weekday_semantics_on_another_today() -> None:
    monday = date(2026, 11, 30)
    assert parse_half_day("lundi matin", monday) == HalfDay(date(2026, 12, 7), "am")
    assert parse_half_day("aujourd'hui matin", monday) == HalfDay(monday, "am")
    assert parse_half_day("le 31 matin", date(2026, 11, 26)) == HalfDay(date(2026, 12, 31), "am")
    assert parse_half_day("demain matin", date.max) is None


# ------------------------------------------------------------------------------------ name

NAME: list[tuple[str, str | None]] = [
    ("Jean Dupont", "Jean Dupont"),
    ("jean dupont", "jean dupont"),
    ("je m'appelle Marie-Claire de la Fontaine", "Marie-Claire de la Fontaine"),
    ("Je m’appelle   Ana   Lopes !", "Ana Lopes"),
    ("moi c'est Jean", "Jean"),
    ("C'est Éloïse Lefèvre.", "Éloïse Lefèvre"),
    ("Bonjour, je m'appelle Paul", "Paul"),
    ("my name is John Smith", "John Smith"),
    ("Nom : N'Diaye", "N'Diaye"),
    ("Dupont Jean, j'ai cassé mes lunettes", "Dupont Jean"),
    ("Jean Parfait", "Jean Parfait"),
    ("Zoé 😊", "Zoé"),
    ("محمد علي", "محمد علي"),
    ("Jean Dupont merci", "Jean Dupont"),
    ("Je suis Jean Martin", "Jean Martin"),
    ("je suis retraitée", None),
    ("c'est urgent", None),
    ("bah oui", None),
    ("demain matin", None),
    ("oui", None),
    ("non", None),
    ("ok merci", None),
    ("c'est ça", None),
    ("aide", None),
    ("/start", None),
    ("Jean 2", None),
    ("06 12 34 56 78", None),
    ("www.dupont.fr", None),
    ("jean@dupont.fr", None),
    ("j'ai cassé mes lunettes", None),
    ("a", None),
    ("Un Deux Trois Quatre Cinq Six Sept", None),
    ("x" * 81, None),
    ("", None),
    ("samedi", None),  # a weekday answers another question
    ("Samedi", None),
    ("lundi matin", None),
    ("saturday", None),
    ("c'est obligatoire ?", None),  # a question back
    ("rue des Lilas", None),
    ("attendez", None),
    ("le mien", None),
    ("cassées", None),  # the answer to another question
    ("infirmière", None),
    ("cassées et perdues", None),
    ("Bonjour Madame", None),  # a title alone
    ("ben oui", None),
    ("oui Marie Dubois", "Marie Dubois"),
    ("Mohamed Ben Salah", "Mohamed Ben Salah"),
    ("Thomas Boulanger", "Thomas Boulanger"),
    ("Nom : Dupont, prénom : Jean", "Dupont Jean"),
    ("nom Martin prénom Léa", "Martin Léa"),
    ("moi c Julie", "Julie"),
    ("Je m'apelle Léa", "Léa"),
    ("la demande est au nom de Marie Dubois", "Marie Dubois"),
    ("Je m'appelle Marie et j'ai cassé mes lunettes", "Marie"),
    ("Jean Dupont, 06 12 34 56 78", "Jean Dupont"),  # the phone number given too
    ("M. et Mme Dupont", "M. et Mme Dupont"),
    ("Dubois (Marie)", "Dubois Marie"),
    ("Marie D.", "Marie D."),
    ("A. Dupont", "A. Dupont"),
    ("call me John", "John"),
    ("Hi, John here", "John"),
    ("M & Mme Lefort", "M & Mme Lefort"),
    ("je suis très pressée", None),
    ("mon nom de famille est Dubois", "Dubois"),
    ("jm appel marie", "marie"),
    ("Je me nomme Marie Dubois", "Marie Dubois"),
    ("Mettez Marie Dubois", "Marie Dubois"),
    ("je m'appelle Dubois, Marie", "Dubois Marie"),
    ("dubois.marie", "dubois marie"),
    ("J.P. Dupont", "J.P. Dupont"),
    ("John Smith, cheers", "John Smith"),
    ("c'est pour ma mère, Josette Girard", "Josette Girard"),
    ("C'est pour mon père : Gérard Lefèvre", "Gérard Lefèvre"),  # after a colon too
    ("this is for my wife, Laura Bianchi", "Laura Bianchi"),  # in English, after a weak intro
    ("Marie Dupont, c'est pour ma mère", "Marie Dupont"),
    ("c'est pour ma mère : samedi", None),  # what follows must still be a name
    ("c pr ma fille Camille Girard", "Camille Girard"),  # just after the relative
    ("pour mon père Gérard Lefèvre", "Gérard Lefèvre"),
    ("c'est pour ma fille qui a cassé ses lunettes", None),
    ("pr", None),  # a texting "pour" is never a name
    ("c pr ma fille", None),
    ("je sais pas, Paris", None),  # only a request for someone else is followed by their name
    ("au nom de mon père, Ahmed Haddad", "Ahmed Haddad"),
    ("It's under Emily Clarke", "Emily Clarke"),
    ("name's John", "John"),
    ("I'm called John", "John"),
    ("Marie Dubois je suis infirmière", "Marie Dubois"),  # capitalised words, then a sentence
    ("Bonne journée je vous remercie", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(NAME))
def test_parse_name(text: str, expected: str | None) -> None:
    assert parse_name(text) == expected


# --------------------------------------------------------------------------------- command

COMMAND: list[tuple[str, tuple[Command, str | None] | None]] = [
    ("/start", ("restart", None)),
    ("/restart", ("restart", None)),
    ("recommencer", ("restart", None)),
    ("Recommencer depuis le début", ("restart", None)),
    ("reprendre à zéro", ("restart", None)),
    ("restart", ("restart", None)),
    ("start over", ("restart", None)),
    ("/annuler", ("cancel", None)),
    ("/cancel", ("cancel", None)),
    ("annuler", ("cancel", None)),
    ("STOP", ("cancel", None)),
    ("arrêter", ("cancel", None)),
    ("cancel", ("cancel", None)),
    ("quit", ("cancel", None)),
    ("/aide", ("help", None)),
    ("/help", ("help", None)),
    ("/help@OptiBot", ("help", None)),
    ("aide", ("help", None)),
    ("Aide !", ("help", None)),
    ("help", ("help", None)),
    ("?", ("help", None)),
    ("/langue", ("language", None)),
    ("/language", ("language", None)),
    ("langue", ("language", None)),
    ("language", ("language", None)),
    ("/langue en", ("language", "en")),
    ("/language fr", ("language", "fr")),
    ("langue en", ("language", "en")),
    ("Langue FR", ("language", "fr")),
    ("language english", ("language", "en")),
    ("langue anglais svp", ("language", "en")),
    ("langue de bois", None),
    ("english", ("language", "en")),
    ("English please", ("language", "en")),
    ("in english", ("language", "en")),
    ("anglais", ("language", "en")),
    ("englsih", ("language", "en")),
    ("français", ("language", "fr")),
    ("en francais", ("language", "fr")),
    ("french", ("language", "fr")),
    ("/conseiller", ("advisor", None)),
    ("/advisor", ("advisor", None)),
    ("conseiller", ("advisor", None)),
    ("parler à un conseiller", ("advisor", None)),
    ("je veux parler à un conseiller svp", ("advisor", None)),
    ("un humain", ("advisor", None)),
    ("un agent", ("advisor", None)),
    ("une personne", ("advisor", None)),
    ("advisor", ("advisor", None)),
    ("talk to a human", ("advisor", None)),
    ("je prefere parler a quelqu'un", ("advisor", None)),  # a preference wraps a command
    ("je préférerais un humain", ("advisor", None)),
    ("I'd rather talk to a human", ("advisor", None)),
    ("plutôt en anglais", ("language", "en")),
    ("je préfère", None),  # the wrapper alone
    ("je préfère une visite", None),
    ("agent", ("advisor", None)),
    ("/mesdonnees", ("my_data", None)),
    ("/mydata", ("my_data", None)),
    ("mes données", ("my_data", None)),
    ("mes infos", ("my_data", None)),
    ("my data", ("my_data", None)),
    ("export", ("my_data", None)),
    ("/supprimer", ("delete_data", None)),
    ("/delete", ("delete_data", None)),
    ("supprimer mes données", ("delete_data", None)),
    ("effacer mes donnees", ("delete_data", None)),
    ("oubliez-moi", ("delete_data", None)),
    ("delete my data", ("delete_data", None)),
    # wrapped as clients write them
    ("on recommence depuis le début", ("restart", None)),
    ("reprendre depuis le début", ("restart", None)),  # found before its end is cut as a wrapper
    ("annule tout", ("cancel", None)),
    ("annulez ma demande", ("cancel", None)),
    ("passez-moi un conseiller", ("advisor", None)),
    ("can we speak english", ("language", "en")),
    ("vous parlez anglais ?", ("language", "en")),
    ("langue anglaise", ("language", "en")),
    ("supprimer mon compte", ("delete_data", None)),
    ("j'annule", ("cancel", None)),
    ("stop annulez tout", ("cancel", None)),  # the same command twice
    ("stop, stop !", ("cancel", None)),
    ("speak to an advisor", ("advisor", None)),
    ("je veux parler à quelqu'un", ("advisor", None)),  # each wrapper cut in turn
    ("switch to english", ("language", "en")),  # a switch wraps a language
    ("passer en français", ("language", "fr")),
    ("retour au début", ("restart", None)),
    ("go back to the start", ("restart", None)),
    # not commands
    ("aide stop", None),  # two commands: which one?
    ("au secours", None),
    ("aidez-moi", None),
    ("j'ai besoin d'aide pour mes lunettes cassées", None),
    ("je veux annuler mon rendez-vous de demain matin", None),
    ("Agen", None),
    ("argent", None),
    ("oui", None),
    ("non", None),
    ("tout", None),  # a wrapper alone is no command
    ("switch to", None),
    ("retour", None),
    ("on", None),
    ("/unknown", None),
    ("/", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(COMMAND))
def test_parse_command(text: str, expected: tuple[Command, str | None] | None) -> None:
    assert parse_command(text) == expected


# -------------------------------------------------------------------------- choice number

CHOICE: list[tuple[str, int | None]] = [
    ("2", 1),
    (" 2. ", 1),
    ("2)", 1),
    ("n°2", 1),
    ("N° 3", 2),
    ("#1", 0),
    ("option 2", 1),
    ("2️⃣", 1),
    ("deux", 1),
    ("le premier", 0),
    ("0", None),
    ("5", None),
    ("12", None),
    ("2 et 3", None),
    ("le 2 décembre", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), cases(CHOICE))
def test_parse_choice_number(text: str, expected: int | None) -> None:
    assert parse_choice_number(text, 4) == expected


def test_choice_number_without_choices() -> None:
    assert parse_choice_number("1", 0) is None


# ------------------------------------------------------------------- robustness and speed

READERS: list[tuple[str, Callable[[str], object], Callable[[object], bool]]] = [
    ("normalize", normalize, lambda r: isinstance(r, str)),
    ("yes_no", parse_yes_no, lambda r: r in (True, False, None)),
    ("need", parse_need, lambda r: r is None or r in get_args(Need)),
    ("mode", parse_mode, lambda r: r is None or r in get_args(Mode)),
    ("priority", parse_priority, lambda r: r is None or r in get_args(Priority)),
    ("urgency", parse_urgency, lambda r: r in (True, False, None)),
    ("consent", parse_consent, lambda r: r in (True, False, None)),
    ("waitlist", parse_waitlist, lambda r: r in (True, False, None)),
    ("erase", parse_erase, lambda r: r in (True, False, None)),
    ("no_prescription", parse_no_prescription, lambda r: r in (True, False)),
    ("summary", parse_summary, lambda r: r is None or r in get_args(SummaryAction)),
    ("postcode", parse_postcode, lambda r: r is None or (isinstance(r, str) and len(r) == 5 and r.isdigit())),
    ("department", department_of, lambda r: r is None or (isinstance(r, str) and len(r) <= 3)),
    ("phone", parse_phone, lambda r: r is None or (isinstance(r, str) and r.startswith("+"))),
    (
        "insurance",
        parse_insurance,
        lambda r: r is None or (isinstance(r, str) and 0 < len(r) <= MAX_INSURER_LENGTH),
    ),
    (
        "half_day",
        lambda text: parse_half_day(text, TODAY),
        lambda r: r is None or (isinstance(r, HalfDay) and r.part in ("am", "pm", None)),
    ),
    ("name", parse_name, lambda r: r is None or (isinstance(r, str) and 2 <= len(r) <= 80)),
    (
        "command",
        parse_command,
        lambda r: (
            r is None or (isinstance(r, tuple) and r[0] in get_args(Command) and r[1] in ("fr", "en", None))
        ),
    ),
    ("choice", lambda text: parse_choice_number(text, 3), lambda r: r in (None, 0, 1, 2)),
]


def _check_all(text: str) -> None:
    for name, read, within_type in READERS:
        result = read(text)
        assert within_type(result), (name, text[:80], result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_readers_never_raise_on_any_text(text: str) -> None:
    _check_all(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec=None, categories=None)))
def test_readers_never_raise_with_surrogates_and_controls(text: str) -> None:
    _check_all(text)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    st.text(
        alphabet=st.sampled_from(list("ouinaé 0123456789/+:h-'.,?😀\u202e\u0000")) | st.characters(),
        min_size=2_000,
        max_size=20_000,
    )
)
def test_readers_never_raise_on_long_text(text: str) -> None:
    _check_all(text)


@pytest.mark.parametrize(
    "text",
    [
        "\u0000\u0001\u001f\u007f",
        "\u202eﺎﻨﻫ ﺐﺘﻛﺍ\u202c",
        "שלום עולם",
        "👍🏽👎🏿🙏",
        "ﷺ" * 100,
        "\ud800\udfff",
        "9" * 600,
        "/" * 600,
        " 75 " * 300,
    ],
    ids=[
        "controls",
        "rtl-override",
        "hebrew",
        "emoji-skin-tones",
        "arabic-ligature",
        "surrogates",
        "digits",
        "slashes",
        "fragments",
    ],
)
def test_readers_on_odd_inputs(text: str) -> None:
    _check_all(text)


HUGE = (
    "J'ai cassé mes lunettes 😭 06 12 34 56 78, 12 rue de la Paix 75002 Paris, demain matin \u202e\u0000 "
    * 700
)[:50_000]


@pytest.mark.parametrize(
    "text",
    [HUGE, "é" * 50_000, "ﷺ" * 50_000, "0 " * 25_000, "a" * 50_000],
    ids=["mixed", "accents", "expanding-ligature", "digits-and-spaces", "one-letter"],
)
def test_readers_are_fast_on_50_kb(text: str) -> None:
    assert len(text) == 50_000
    for name, read, within_type in READERS:
        best = min(_timed(read, text) for _ in range(3))
        assert best < 0.05, (name, best)
        assert within_type(read(text)), name


def _timed(read: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    read(text)
    return time.perf_counter() - start


def test_huge_input_still_reads_its_head() -> None:
    assert parse_need(HUGE) == "broken"
    assert parse_phone(HUGE) == "+33612345678"
    assert parse_postcode(HUGE) == "75002"
    assert parse_half_day(HUGE, TODAY) == HalfDay(date(2026, 11, 27), "am")
    assert parse_command(HUGE) is None
    assert parse_name(HUGE) is None
