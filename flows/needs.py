"""What the client needs (broken, lost, unsuitable, other), how they want it served (a visit
or a shipment) and the job that gives them priority.

Also the common words never read as a typo of a keyword (:data:`flows.text.KNOWN_WORDS`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final, Literal

from flows.text import _MAX_SCAN, KNOWN_WORDS, _keyword_tokens, _Matcher
from flows.yes_no import asks_back, is_near, parse_yes_no

Need = Literal["broken", "lost", "unsuitable", "renewal", "lenses", "other"]
Mode = Literal["visit", "shipment"]
Priority = Literal["health", "food_retail", "delivery", "firefighter", "other", "none"]


# ---------------------------------------------------------------------------------- need

NEED: Final = _Matcher(
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
            # a contact lens torn (review, issue 15): damaged, as a broken pair
            "dechire", "dechiree", "dechires", "dechirees", "torn", "tore", "ripped",
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
        # Routine needs, booked in normal service (in crisis they are "something else").
        "renewal": (
            "renouvellement", "renouveler", "renouvelle", "renewal", "renew", "a refaire",
            "refaire mes lunettes", "refaire des lunettes", "refaire une paire", "a renouveler",
            "nouvelles lunettes", "nouvelle paire", "new glasses", "new pair",
        ),
        "lenses": (
            "lentilles", "lentille", "lentilles de contact", "contact lenses", "contact lens",
            "contacts",
            # run out of them ("j'ai plus de lentilles": not "more", nor a "no")
            "plus de lentilles", "plus de lentille", "plus de lentilles de contact",
            "no more lenses", "no more contact lenses", "out of lenses", "out of contact lenses",
        ),
        "other": (
            "question", "renseignement",
            "information", "rendez vous de controle", "controle", "examen de vue", "devis",
            "autre chose", "autre", "something else", "other",
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
_NEED_ORDER: Final[tuple[Need, ...]] = ("broken", "lost", "unsuitable", "renewal", "lenses", "other")


def parse_need(text: str) -> Need | None:
    """broken > lost > unsuitable > renewal > lenses > other when several are mentioned."""
    tokens = _keyword_tokens(text)
    if asks_back(text[:_MAX_SCAN], tokens, opening=False):
        return None
    found = NEED.find(tokens)
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
        near = is_near(first, then)
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


_CAME_OFF: Final = ({"part", "came_off"}, {"screw", "came_off"})
_SMALL_PARTS: Final = frozenset(("part", "screw", "accessory"))


# ---------------------------------------------------------------------------------- mode

MODE: Final = _Matcher(
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
            "etre livre", "livre", "livres",
        ),
    }
)  # fmt: skip


def parse_mode(text: str) -> Mode | None:
    """A shipping word beats a place ("livraison à domicile"); a visit verb plus one -> None."""
    tokens = _keyword_tokens(text)
    if asks_back(text[:_MAX_SCAN], tokens, opening=False):
        return None
    found = MODE.find(tokens)
    if any(hit.doubtful for hit in found):
        return None
    labels = {hit.label for hit in found if not hit.negated}
    if "shipment" in labels:
        return None if "visit" in labels else "shipment"
    if labels & {"visit", "visit_place"}:
        return "visit"
    return None


# ------------------------------------------------------------------------------ priority

PRIORITY: Final = _Matcher(
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
            # delivering said as a verb ("je livre des pizzas")
            "je livre", "on livre", "i deliver", "we deliver", "delivering",
        ),
        "firefighter": (
            "pompier", "pompiers", "pompiere", "pompieres", "sapeur pompier", "sapeurs pompiers",
            "firefighter",
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
KNOWN_WORDS.update(_COMMON_WORDS, *(matcher.vocabulary for matcher in (NEED, MODE, PRIORITY)))
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
    if asks_back(text[:_MAX_SCAN], tokens, opening=False):
        return None
    found = PRIORITY.find(tokens)
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
