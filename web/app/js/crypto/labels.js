// Domain-separation labels (docs/PROTOCOL.md §3, crates/crypto/src/labels.rs) and lp().

import { concat, u32be, utf8 } from './bytes.js';

export const ENC_KEY_BINDING = utf8('securechat/v1/enc-key\0');
export const WRAP = utf8('securechat/v1/wrap');
export const CONTENT = utf8('securechat/v1/content');
export const MESSAGE_SIG = utf8('securechat/v1/message\0');
export const FILE_CHUNK = utf8('securechat/v1/file-chunk');
export const DIRECT_CONV = utf8('securechat/v1/direct-conv\0');
export const GROUP_CHANGE = utf8('securechat/v1/group-change\0');
export const GROUP_LINK = utf8('securechat/v1/group-link\0');
export const KEYFILE_AAD_PREFIX = 'securechat-keyfile|v1|';

/** lp(x) = u32be(len(x)) || x; strings enter as UTF-8. */
export function lp(value) {
  const bytes = typeof value === 'string' ? utf8(value) : value;
  return concat(u32be(bytes.length), bytes);
}
