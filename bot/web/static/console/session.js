/* Who is signed in: the operator, and the CSRF token that goes with every write (memory only). */

export const session = {
  me: null, // Operator
  csrf: null, // in memory only
};

export function isAdmin() {
  return Boolean(session.me && session.me.role === "admin");
}

/** Whether the signed-in account works on client cases (operators and admins; the network role
 * sees only the members' desk, and the client routes refuse it). */
export function servesClients() {
  return Boolean(session.me && session.me.role !== "network");
}

/** The name is the signed-in operator's. */
export function isMe(name) {
  return Boolean(session.me && name === session.me.name);
}
