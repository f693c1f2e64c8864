// Runs inside the page (passed to page.evaluate): checks the app's JavaScript crypto against
// the Rust known-answer vectors in testdata/vectors/. Returns a list of { name, ok, error }.
// It must be self-contained: Playwright sends its source text to the browser.

export async function checkVectorsInPage(v) {
  const bytes = await import('/app/js/crypto/bytes.js');
  const b64 = await import('/app/js/crypto/b64.js');
  const identity = await import('/app/js/crypto/identity.js');
  const binding = await import('/app/js/crypto/binding.js');
  const hpke = await import('/app/js/crypto/hpke.js');
  const fileStream = await import('/app/js/crypto/file_stream.js');
  const keyfile = await import('/app/js/crypto/keyfile.js');
  const fingerprint = await import('/app/js/crypto/fingerprint.js');
  const ids = await import('/app/js/crypto/ids.js');
  const { seal } = await import('/app/js/crypto/envelope/seal.js');
  const { open } = await import('/app/js/crypto/envelope/open.js');
  const { authorizeDelete } = await import('/app/js/crypto/envelope/tombstone.js');
  const { decodeEnvelope } = await import('/app/js/crypto/envelope/envelope.js');

  const { fromHex, toHex, equal, utf8, fromUtf8, rngFrom } = bytes;
  const d = (t) => b64.decode(t);
  const results = [];
  const check = async (name, fn) => {
    try {
      await fn();
      results.push({ name, ok: true });
    } catch (e) {
      results.push({ name, ok: false, error: `${e && e.code ? e.code + ': ' : ''}${e && e.message ? e.message : e}` });
    }
  };
  const eq = (label, a, b) => {
    const sa = a instanceof Uint8Array ? toHex(a) : JSON.stringify(a);
    const sb = b instanceof Uint8Array ? toHex(b) : JSON.stringify(b);
    if (sa !== sb) throw new Error(`${label}: got ${sa.slice(0, 200)}, want ${sb.slice(0, 200)}`);
  };
  const rejects = async (label, code, fn) => {
    try {
      await fn();
    } catch (e) {
      if (code && e.code !== code) throw new Error(`${label}: expected ${code}, got ${e.code || e.message}`);
      return;
    }
    throw new Error(`${label}: expected a failure (${code})`);
  };

  // ---- base64url strictness
  await check('b64: strict decoding', async () => {
    eq('roundtrip', b64.encode(d('AA')), 'AA');
    for (const bad of ['AB', 'AA==', 'A', 'a+b/', 'AA AA']) await rejects(`refuses ${bad}`, undefined, () => b64.decode(bad));
  });

  // ---- RFC 9180
  for (const t of v.rfc9180) {
    await check(`rfc9180: mode ${t.mode} kem ${t.kem_id} kdf ${t.kdf_id} aead ${t.aead_id}`, async () => {
      const r = await hpke.deriveKeyPair(fromHex(t.ikmR));
      eq('skRm', r.sk, fromHex(t.skRm));
      eq('pkRm', r.publicKey, fromHex(t.pkRm));
      const e = await hpke.deriveKeyPair(fromHex(t.ikmE));
      eq('skEm', e.sk, fromHex(t.skEm));
      eq('pkEm', e.publicKey, fromHex(t.pkEm));
      const { sharedSecret, enc } = await hpke.encap(r.publicKey, fromHex(t.ikmE));
      eq('enc', enc, fromHex(t.enc));
      eq('shared_secret', sharedSecret, fromHex(t.shared_secret));
      eq('decap', await hpke.decap(enc, r.privateKey), fromHex(t.shared_secret));
      const ctx = await hpke.keySchedule(sharedSecret, fromHex(t.info));
      eq('key_schedule_context', ctx.keyScheduleContext, fromHex(t.key_schedule_context));
      eq('secret', ctx.secret, fromHex(t.secret));
      eq('key', ctx.key, fromHex(t.key));
      eq('base_nonce', ctx.baseNonce, fromHex(t.base_nonce));
      eq('exporter_secret', ctx.exporterSecret, fromHex(t.exporter_secret));
      const receiver = await hpke.keySchedule(await hpke.decap(enc, r.privateKey), fromHex(t.info));
      for (const [i, x] of t.encryptions.entries()) {
        eq(`nonce ${i}`, ctx.nonce(ctx.seq), fromHex(x.nonce));
        eq(`ct ${i}`, await ctx.seal(fromHex(x.aad), fromHex(x.pt)), fromHex(x.ct));
        eq(`pt ${i}`, await receiver.open(fromHex(x.aad), fromHex(x.ct)), fromHex(x.pt));
      }
      for (const x of t.exports) eq('export', await ctx.export(fromHex(x.exporter_context), x.L), fromHex(x.exported_value));
      const single = await hpke.sealBase(r.publicKey, fromHex(t.info), fromHex(t.encryptions[0].aad), fromHex(t.encryptions[0].pt), fromHex(t.ikmE));
      eq('single-shot ct', single.ct, fromHex(t.encryptions[0].ct));
      eq('single-shot open', await hpke.openBase(single.enc, r.privateKey, fromHex(t.info), fromHex(t.encryptions[0].aad), single.ct), fromHex(t.encryptions[0].pt));
      const low = new Uint8Array(32);
      low[0] = 1;
      await rejects('all-zero DH refused', 'WrapFailed', () => hpke.encap(low, fromHex(t.ikmE)));
    });
  }

  // ---- bindings
  for (const [i, c] of v.binding.cases.entries()) {
    await check(`binding: case ${i} (${c.key_id})`, async () => {
      const ik = await identity.importIdentitySeed(d(c.ik_seed));
      eq('ik', ik.publicKey, d(c.ik));
      const ek = await identity.importEncryptionKey(d(c.x25519_sk));
      eq('x25519', ek.publicKey, d(c.x25519));
      eq('key_id', ek.keyId, d(c.key_id));
      eq('message', binding.bindingMessage(c.user_id, ek.keyId, c.created_at, ek.publicKey), fromHex(c.message_hex));
      eq('record', await binding.publishKey(ik.privateKey, c.user_id, ek, c.created_at), c.record);
      await binding.verifyPublishedKey(ik.publicKey, c.user_id, c.record);
      await rejects('other created_at', 'BadSignature', () => binding.verifyPublishedKey(ik.publicKey, c.user_id, { ...c.record, created_at: c.created_at + 1 }));
      await rejects('other user', 'BadSignature', () => binding.verifyPublishedKey(ik.publicKey, ids.uuidV7(), c.record));
      await rejects('low-order key', 'BadEncryptionKey', () => binding.verifyPublishedKey(ik.publicKey, c.user_id, { ...c.record, x25519: b64.encode(new Uint8Array(32)) }));
    });
  }

  await check('identity keys: small-order and off-curve keys refused', async () => {
    const identityOf = fromHex('0100000000000000000000000000000000000000000000000000000000000000');
    await rejects('identity point', 'BadIdentityKey', () => identity.checkIdentityKey(identityOf));
    await rejects('order 8', 'BadIdentityKey', () => identity.checkIdentityKey(fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')));
    await rejects('zero (order 4)', 'BadIdentityKey', () => identity.checkIdentityKey(new Uint8Array(32)));
    identity.checkIdentityKey(d(v.envelope.users[0].ik));
  });

  // ---- envelopes
  const users = {};
  for (const u of v.envelope.users) {
    const ik = await identity.importIdentitySeed(d(u.ik_seed));
    const ek = await identity.importEncryptionKey(d(u.ek_sk));
    eq(`${u.name} ik`, ik.publicKey, d(u.ik));
    eq(`${u.name} ek`, ek.publicKey, d(u.ek_pub));
    users[u.name] = { ...u, ik, ek };
  }
  const pinnedAll = (uid) => {
    const u = Object.values(users).find((x) => x.user_id === uid);
    return u ? u.ik.publicKey : null;
  };
  const metas = {};
  for (const c of v.envelope.cases) {
    await check(`envelope: ${c.name}`, async () => {
      const sender = users[c.sender];
      const want = c.envelope;
      const plain = JSON.parse(c.plaintext);
      let content;
      if (plain.t === 'text') content = { type: 'text', body: plain.body };
      else if (plain.t === 'file') content = { type: 'file', body: plain.body, file: fileStream.descriptorFromJson(plain.file) };
      else content = { type: plain.t, target: d(plain.ref) };
      const draws = [d(c.random.msg_id), d(c.random.cek), d(c.random.nonce), ...c.random.ikm_e.map(d)];
      const sealed = await seal(
        { userId: sender.user_id, identityPrivate: sender.ik.privateKey, identityPublic: sender.ik.publicKey, ownKeys: [{ publicKey: sender.ek.publicKey, keyId: sender.ek.keyId }] },
        {
          convId: c.conv_id, senderCtr: c.sender_ctr, sentAt: c.sent_at, expiresInMs: c.expires_in_ms, hidden: c.hidden, content,
          recipients: c.recipients.map((n) => ({ userId: users[n].user_id, publicKey: users[n].ek.publicKey, keyId: users[n].ek.keyId })),
        },
        rngFrom(draws),
      );
      eq('header', fromUtf8(d(sealed.envelope.h)), c.header);
      eq('ct', sealed.envelope.ct, want.ct);
      eq('sig', sealed.envelope.sig, want.sig);
      eq('h', sealed.envelope.h, want.h);
      for (const w of c.wraps) {
        const hdr = decodeEnvelope(want).header;
        const wrap = hdr.wraps.find((x) => x.userId === users[w.user].user_id);
        eq('wrap enc', wrap.enc, d(w.enc));
      }
      for (const as of c.open_as) {
        const me = users[as.user];
        const receiver = { userId: me.user_id, keys: [{ keyId: me.ek.keyId, privateKey: me.ek.privateKey }] };
        const delivery = { sender: sender.user_id, convId: c.conv_id, serverReceivedAt: as.server_received_at };
        const opened = await open(want, receiver, delivery, as.now, pinnedAll, () => false);
        eq('hidden', opened.hidden, c.hidden);
        eq('type', opened.content.type, plain.t);
        if (plain.body !== undefined) eq('body', opened.content.body, plain.body);
        if (c.expires_in_ms) eq('expires_at', opened.expiresAt, as.server_received_at + c.expires_in_ms);
        if (plain.t === 'file' && c.file_ct) {
          const out = await fileStream.decryptFile(opened.content.file, d(c.file_ct));
          eq('file size', out.length, plain.file.size);
        }
        await rejects('replay', 'Replay', () => open(want, receiver, delivery, as.now, pinnedAll, () => true));
        await rejects('unpinned', 'UnknownSender', () => open(want, receiver, delivery, as.now, () => null, () => false));
        await rejects('changed key', 'IdentityKeyChanged', () => open(want, receiver, delivery, as.now, () => users.carol.ik.publicKey, () => false));
        await rejects('other conversation', 'ConversationMismatch', () => open(want, receiver, { ...delivery, convId: ids.uuidV7() }, as.now, pinnedAll, () => false));
        await rejects('other sender', 'SenderMismatch', () => open(want, receiver, { ...delivery, sender: me.user_id === sender.user_id ? users.carol.user_id : me.user_id }, as.now, pinnedAll, () => false));
        const sig = d(want.sig);
        sig[0] ^= 1;
        await rejects('tampered signature', 'BadSignature', () => open({ ...want, sig: b64.encode(sig) }, receiver, delivery, as.now, pinnedAll, () => false));
        const ct = d(want.ct);
        ct[5] ^= 1;
        await rejects('tampered ciphertext', 'BadSignature', () => open({ ...want, ct: b64.encode(ct) }, receiver, delivery, as.now, pinnedAll, () => false));
        if (c.expires_in_ms) {
          await rejects('expired', 'Expired', () => open(want, receiver, delivery, as.server_received_at + c.expires_in_ms + 1, pinnedAll, () => false));
        }
        if (as.user === c.open_as[0].user) metas[c.name] = opened;
      }
      const outsider = Object.values(users).find((u) => !c.open_as.some((a) => a.user === u.name));
      if (outsider) {
        await rejects('not a recipient', 'NotARecipient', () =>
          open(want, { userId: outsider.user_id, keys: [{ keyId: outsider.ek.keyId, privateKey: outsider.ek.privateKey }] }, { sender: sender.user_id, convId: c.conv_id, serverReceivedAt: c.open_as[0].server_received_at }, c.open_as[0].now, pinnedAll, () => false));
      }
    });
  }
  await check('envelope: tombstone authorisation', async () => {
    const target = metas['text-direct'].header;
    authorizeDelete(metas.delete, { msgId: target.msgId, convId: target.convId, sender: target.sender });
    await rejects('other target', 'TombstoneTargetMismatch', () => authorizeDelete(metas.delete, { msgId: metas.file.header.msgId, convId: target.convId, sender: target.sender }));
    await rejects('other sender', 'TombstoneNotBySender', () => authorizeDelete(metas.delete, { msgId: target.msgId, convId: target.convId, sender: users.bob.user_id }));
    await rejects('not a tombstone', 'NotATombstone', () => authorizeDelete(metas['text-direct'], { msgId: target.msgId, convId: target.convId, sender: target.sender }));
  });
  await check('conversation id: direct(alice, bob)', async () => {
    eq('conv', await ids.directConvId(users.bob.user_id, users.alice.user_id), 'a6a8e185-a78f-81a5-8d3e-41a08a24aea7');
  });

  // ---- file stream
  for (const c of v.file_stream.cases) {
    await check(`file stream: ${c.name}`, async () => {
      const plaintext = utf8(c.plaintext);
      const { ciphertext, descriptor } = await fileStream.encryptFile(plaintext, c.mime, c.file_name, {
        rng: rngFrom([d(c.file_id), d(c.key), d(c.nonce_prefix)]),
        chunkSize: c.chunk_size,
      });
      const expected = bytes.concat(...c.chunks.map((x) => d(x.ct)));
      eq('ciphertext', ciphertext, expected);
      eq('ct_sha256', descriptor.ctSha256, d(c.ct_sha256));
      for (const x of c.chunks) eq('nonce', fileStream.chunkNonce(d(c.nonce_prefix), x.index, x.last), fromHex(x.nonce_hex));
      eq('decrypt', await fileStream.decryptFile(descriptor, ciphertext), plaintext);
      await rejects('truncated', 'StreamTruncated', () => fileStream.decryptFile(descriptor, ciphertext.slice(0, ciphertext.length - 1)));
      const altered = Uint8Array.from(ciphertext);
      altered[0] ^= 1;
      await rejects('altered', 'CiphertextDigestMismatch', () => fileStream.decryptFile(descriptor, altered));
    });
  }

  // ---- key file
  await check('key file: import, export, refusals', async () => {
    const k = v.keyfile;
    eq('kdf_key', await keyfile.deriveKey(k.passphrase, d(k.salt), k.iterations), d(k.kdf_key));
    const imported = await keyfile.importKeyFile(k.file, k.passphrase);
    eq('user', imported.userId, k.user_id);
    eq('seed', imported.ikSeed, d(k.ik_seed));
    eq('keys', imported.encKeys.map((x) => [b64.encode(x.keyId), b64.encode(x.sk), x.createdAt, x.status]), k.enc_keys);
    await keyfile.importKeyFile(k.file, k.passphrase_nfd);
    await rejects('wrong passphrase', 'KeyFileDecrypt', () => keyfile.importKeyFile(k.file, `${k.passphrase}!`));
    const info = keyfile.readKeyFileInfo(k.file);
    const written = await keyfile.exportKeyFile(
      { userId: k.user_id, ikSeed: imported.ikSeed, ikPublic: imported.ikPublic, encKeys: imported.encKeys },
      k.passphrase,
      info.createdAt,
      rngFrom([d(k.salt), d(k.nonce)]),
    );
    eq('file', written, k.file);
    const lowered = JSON.parse(k.file);
    lowered.kdf.iter = 1000;
    await rejects('downgraded iterations', 'KdfIterations', () => keyfile.importKeyFile(JSON.stringify(lowered), k.passphrase));
  });

  // ---- fingerprints
  await check('safety numbers', async () => {
    const f = v.fingerprint;
    const a = { identityKey: d(f.alice.ik), userId: f.alice.user_id };
    const b = { identityKey: d(f.bob.ik), userId: f.bob.user_id };
    const ha = await fingerprint.fingerprintHash(a.identityKey, a.userId);
    eq('alice hash', ha, fromHex(f.alice.fingerprint_hex));
    eq('alice digits', fingerprint.digitsOf(ha), f.alice.digits);
    const sn = await fingerprint.safetyNumber(a, b);
    eq('number', sn.digits, f.safety_number);
    eq('grouped', sn.grouped, f.grouped);
    eq('scannable', sn.scannable, fromHex(f.scannable_hex));
    eq('same both ways', (await fingerprint.safetyNumber(b, a)).digits, f.safety_number);
    eq('short id', await identity.shortKeyId(a.identityKey), f.alice.short_key_id);
    const l = f.libsignal;
    const la = await fingerprint.iteratedHash(fromHex(l.alice_key_bytes_hex), l.alice_stable_id);
    const lb = await fingerprint.iteratedHash(fromHex(l.bob_key_bytes_hex), l.bob_stable_id);
    eq('libsignal alice', la.slice(0, 32), fromHex(l.alice_fingerprint_prefix_hex));
    eq('libsignal bob', lb.slice(0, 32), fromHex(l.bob_fingerprint_prefix_hex));
    eq('libsignal display', fingerprint.digitsOf(la) + fingerprint.digitsOf(lb), l.display);
  });
  return results;
}
