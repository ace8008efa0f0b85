/* The members' desk (issue 16). FOUNDATION STUB: filled in by its helper. */

export function bindAnnouncements() {}
