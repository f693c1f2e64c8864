// The user's private keys in this browser (mirrors crates/client/src/keyring.rs): the
// identity key and every encryption key, active and retired. Signing and decryption use
// non-extractable CryptoKeys; the raw seeds, needed only to write the key file, are kept
// sealed under a non-extractable AES-GCM key of this browser.

import { fromUtf8, randomBytes, utf8 } from './crypto/bytes.js';
import * as b64 from './crypto/b64.js';
import { uuidV7 } from './crypto/ids.js';
import { generateEncryptionKey, generateSeed, importIdentitySeed, shortKeyId } from './crypto/identity.js';
import { publishKey } from './crypto/binding.js';
import { exportKeyFile } from './crypto/keyfile.js';
import * as store from './store.js';

async function sealSecrets(wrapKey, secrets) {
  const nonce = randomBytes(12);
  const json = {
    ik_seed: b64.encode(secrets.ikSeed),
    enc_keys: secrets.encKeys.map((k) => ({ key_id: b64.encode(k.keyId), sk: b64.encode(k.sk), created_at: k.createdAt, status: k.status })),
  };
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce }, wrapKey, utf8(JSON.stringify(json))));
  return { nonce, ct };
}

export class KeyRing {
  constructor(record) {
    this.record = record;
  }

  get userId() {
    return this.record.userId;
  }

  get identityPublic() {
    return this.record.ikPublic;
  }

  get identityPrivate() {
    return this.record.identityPrivate;
  }

  /** Whether the user still has to save a key file with the newest keys. */
  get needsBackup() {
    return !!this.record.needsBackup;
  }

  /** Fresh keys for a new account: { keyring, secrets }; nothing is stored yet. */
  static async generate() {
    const ikSeed = generateSeed();
    const identity = await importIdentitySeed(ikSeed);
    const enc = await generateEncryptionKey();
    const createdAt = Date.now();
    const secrets = { ikSeed, encKeys: [{ keyId: enc.keyId, sk: enc.sk, createdAt, status: 'active' }] };
    const keyring = new KeyRing({
      userId: uuidV7(),
      ikPublic: identity.publicKey,
      identityPrivate: identity.privateKey,
      encKeys: [{ keyId: enc.keyId, publicKey: enc.publicKey, privateKey: enc.privateKey, createdAt, status: 'active' }],
      needsBackup: true,
    });
    keyring.pending = secrets;
    return keyring;
  }

  /**
   * The registration request (POST /api/v1/auth/register) for these keys, without the
   * password's part: Api.register() adds the OPAQUE record (docs/PROTOCOL.md §18.2).
   */
  async registration(username, email) {
    const active = this.record.encKeys.find((k) => k.status === 'active');
    return {
      user_id: this.userId,
      username,
      email,
      identity_key: b64.encode(this.identityPublic),
      encryption_key: await publishKey(this.identityPrivate, this.userId, active, active.createdAt),
    };
  }

  /** Stores the keys in this browser (after registration or import). */
  async save(username) {
    if (this.pending) {
      this.record.wrapKey ??= await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
      this.record.sealed = await sealSecrets(this.record.wrapKey, this.pending);
      this.pending = null;
    }
    if (username) this.record.username = username;
    await store.saveKeys(this.record);
  }

  /** Loads the keys of an account from this browser, or null. */
  static async load(userId) {
    const record = await store.loadKeys(userId);
    return record ? new KeyRing(record) : null;
  }

  /** From an imported key file (crypto/keyfile.js importKeyFile). */
  static fromImport(imported) {
    const keyring = new KeyRing({
      userId: imported.userId,
      ikPublic: imported.ikPublic,
      identityPrivate: imported.identityPrivate,
      encKeys: imported.encKeys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, privateKey: k.privateKey, createdAt: k.createdAt, status: k.status })),
      needsBackup: false,
    });
    keyring.pending = { ikSeed: imported.ikSeed, encKeys: imported.encKeys.map((k) => ({ keyId: k.keyId, sk: k.sk, createdAt: k.createdAt, status: k.status })) };
    return keyring;
  }

  async #secrets() {
    if (this.pending) return this.pending;
    const { nonce, ct } = this.record.sealed;
    const json = JSON.parse(fromUtf8(new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce }, this.record.wrapKey, ct))));
    return {
      ikSeed: b64.decode(json.ik_seed, 32),
      encKeys: json.enc_keys.map((k) => ({ keyId: b64.decode(k.key_id, 8), sk: b64.decode(k.sk, 32), createdAt: k.created_at, status: k.status })),
    };
  }

  /** The passphrase-protected key file's text. Marks the keys as backed up. */
  async exportKeyFile(passphrase) {
    const secrets = await this.#secrets();
    const text = await exportKeyFile({ userId: this.userId, ikSeed: secrets.ikSeed, ikPublic: this.identityPublic, encKeys: secrets.encKeys }, passphrase);
    this.record.needsBackup = false;
    if (this.record.sealed) await store.saveKeys(this.record);
    return text;
  }

  /** Every private key, to open old and new messages: [{ keyId, privateKey }]. */
  receiverKeys() {
    return this.record.encKeys.map((k) => ({ keyId: k.keyId, privateKey: k.privateKey }));
  }

  /** Public halves of the active keys (the own copy is wrapped to them). */
  activePublic() {
    return this.record.encKeys.filter((k) => k.status === 'active').map((k) => ({ publicKey: k.publicKey, keyId: k.keyId }));
  }

  /** The encryption keys for display: [{ keyId, createdAt, status }]. */
  encryptionKeys() {
    return this.record.encKeys.map((k) => ({ keyId: b64.encode(k.keyId), createdAt: k.createdAt, status: k.status }));
  }

  fingerprint() {
    return shortKeyId(this.identityPublic);
  }

  /** Makes and publishes a new encryption key; older ones stay to open old messages. */
  async rotate(api) {
    const secrets = await this.#secrets();
    const newest = Math.max(0, ...this.record.encKeys.map((k) => k.createdAt));
    const createdAt = Math.max(Date.now(), newest + 1);
    const enc = await generateEncryptionKey();
    await api.publishKey(await publishKey(this.identityPrivate, this.userId, enc, createdAt));
    for (const k of this.record.encKeys) k.status = 'retired';
    for (const k of secrets.encKeys) k.status = 'retired';
    this.record.encKeys.push({ keyId: enc.keyId, publicKey: enc.publicKey, privateKey: enc.privateKey, createdAt, status: 'active' });
    secrets.encKeys.push({ keyId: enc.keyId, sk: enc.sk, createdAt, status: 'active' });
    this.record.sealed = await sealSecrets(this.record.wrapKey, secrets);
    this.record.needsBackup = true;
    await store.saveKeys(this.record);
  }
}

