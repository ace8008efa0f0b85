/* The members' desk (issue 16): kit dates declared with /kit, confirmed by an admin. FOUNDATION STUB. */

export function bindMemberKits() {}
