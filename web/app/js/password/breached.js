// The most common breached passwords of at least 10 characters: the list the server refused
// at registration and password change before logins moved to OPAQUE (docs/PROTOCOL.md §18.2),
// now checked here since the server never sees the password. The same file the server and
// the CLI embed (crates/server/src/auth/common_passwords.rs): common-passwords.json (1780
// entries, Django's common-passwords list, BSD licence). A password on it is refused before
// anything is sent; it is compared as the server did: surrounding spaces ignored, in lower
// case.

import LIST from './common-passwords.json' with { type: 'json' };

export const BREACHED = new Set(LIST);

/** Whether the server's former list holds this password. */
export function isBreached(password) {
  return BREACHED.has(password.trim().toLowerCase());
}
