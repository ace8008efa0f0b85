/* The console's words: the French for the codes the API sends. */

/** The statuses of a case still open (queued, held, or sent and not yet done). */
export const OPEN_STATUSES = ["queued", "claimed", "dispatched"];

export const STATUS = {
  queued: "En attente",
  claimed: "Pris en charge",
  dispatched: "Expédié",
  done: "Terminé",
  cancelled: "Annulé",
};
export const NEED = {
  broken: "Lunettes cassées",
  lost: "Lunettes perdues",
  unsuitable: "Plus adaptées",
  renewal: "Renouvellement",
  lenses: "Lentilles",
  other: "Autre",
};
export const MODE = { visit: "Visite", shipment: "Envoi" };
export const CHANNEL = { telegram: "Telegram", webchat: "Web", terminal: "Terminal", whatsapp: "WhatsApp" };
export const PRIORITY = {
  health: "Soignant(e) / santé",
  food_retail: "Commerce alimentaire",
  delivery: "Livreur / livreuse",
  firefighter: "Pompier",
  other: "Autre mobilisé(e)",
};
export const OWNER = {
  bot: "avec le bot",
  queue: "en attente d'un conseiller",
  closed: "terminée",
};
export const PURPOSE = { home_visit: "visite à domicile", visit: "visite à domicile" };
export const AUTHOR = { client: "Client", bot: "Bot", operator: "Conseiller" };
export const OFFER = {
  offered: "proposé",
  accepted: "accepté",
  declined: "refusé",
  taken: "pris par un autre",
  withdrawn: "retiré",
  failed: "visite impossible",
};
export const APPOINTMENT = {
  pending: "heure à proposer par l'opticien",
  proposed: "proposé, en attente du client",
  confirmed: "confirmé par le client",
  en_route: "opticien en route",
  done: "visite faite",
  impossible: "visite impossible",
  moved: "le client demande un autre moment",
  cancelled: "annulé",
};
export const JOURNAL_ACTION = {
  view_case: "Consultation du dossier",
  prescription: "Ordonnance ouverte",
  insurance_card: "Carte de mutuelle ouverte",
  export: "Export des données",
  erase: "Effacement des données",
  broadcast: "Liste d'attente prévenue",
  waitlist_export: "Liste d'attente exportée (CSV)",
  waitlist_phones: "Numéros à rappeler consultés",
  broadcast_cancel: "Diffusion à la liste d'attente arrêtée",
  candidate: "Candidature modifiée",
  view_candidate: "Candidature consultée",
  video_slot: "Visio de suivi publiée ou annulée",
  member_kit: "Date de kit d'un membre confirmée ou refusée",
  member_document: "Document d'une demande de membre téléchargé",
  announcement: "Annonce aux membres envoyée",
  announcement_cancel: "Annonce aux membres arrêtée",
};
export const JOURNAL_DETAIL = { admin: "par un administrateur", retention: "durée de conservation écoulée" };
