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
  const group = await import('/app/js/crypto/group.js');
  const labels = await import('/app/js/crypto/labels.js');

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
      if (plain.t === 'text') content = plain.group ? { type: 'text', body: plain.body, group: plain.group } : { type: 'text', body: plain.body };
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
        if (plain.group) eq('group', JSON.stringify(opened.content.group), JSON.stringify(plain.group));
        if (c.expires_in_ms) eq('expires_at', opened.expiresAt, as.server_received_at + c.expires_in_ms);
        if (plain.t === 'file' && c.file_ct) {
          const out = await fileStream.decryptFile(opened.content.file, d(c.file_ct));
          eq('file size', out.length, plain.file.size);
        }
        await rejects('replay', 'Replay', () => open(want, receiver, delivery, as.now, pinnedAll, () => true));
        await rejects('unpinned', 'UnknownSender', () => open(want, receiver, delivery, as.now, () => null, () => false));
        // Another user's key (and another sender) than the envelope's, whoever sent it.
        const other = sender === users.carol ? users.alice : users.carol;
        await rejects('changed key', 'IdentityKeyChanged', () => open(want, receiver, delivery, as.now, () => other.ik.publicKey, () => false));
        await rejects('other conversation', 'ConversationMismatch', () => open(want, receiver, { ...delivery, convId: ids.uuidV7() }, as.now, pinnedAll, () => false));
        await rejects('other sender', 'SenderMismatch', () => open(want, receiver, { ...delivery, sender: me.user_id === sender.user_id ? other.user_id : me.user_id }, as.now, pinnedAll, () => false));
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

  // ---- group membership chains
  const g = v.group;
  const people = {};
  for (const u of [...g.users, g.mallory]) people[u.name] = { ...u, key: await identity.importIdentitySeed(d(u.ik_seed)) };
  const byId = (uid) => Object.values(people).find((p) => p.user_id === uid);
  const chain = g.chain.map((s) => group.parseSignedChange(s.signed));
  // Fails unless fn throws an error with exactly `message` (Rust's Display text) and a code.
  const refusedWith = async (label, message, fn) => {
    try {
      await fn();
    } catch (e) {
      if (e.message !== message || !e.code) throw new Error(`${label}: got ${e.code}: ${e.message}, want: ${message}`);
      return;
    }
    throw new Error(`${label}: accepted, want: ${message}`);
  };
  const memberList = (state) => [...state.members].map(([userId, m]) => ({ user_id: userId, admin: m.admin }));
  const signRaw = (who, text) => identity.sign(people[who].key.privateKey, bytes.concat(labels.GROUP_CHANGE, utf8(text)));
  const signedText = async (who, text) => ({ bytes: utf8(text), sig: await signRaw(who, text) });
  let state = null;
  for (const [i, step] of g.chain.entries()) {
    await check(`group: chain step ${i} (${step.note})`, async () => {
      const signed = chain[i];
      eq('change', fromUtf8(signed.bytes), step.change);
      eq('transport', group.signedChangeToJson(signed), step.signed);
      eq('link', b64.encode(await group.linkOf(signed)), step.link);
      const change = group.parseChange(signed.bytes);
      eq('canonical rebuild', fromUtf8(group.changeToBytes(change)), step.change);
      const author = byId(change.author);
      eq('signed by the author (deterministic Ed25519)', group.signedChangeToJson(await group.signChange(change, author.key)), step.signed);
      const before = state;
      const beforeMembers = before && JSON.stringify(memberList(before));
      state = i === 0 ? await group.genesis(signed) : await group.apply(before, signed);
      eq('seq', state.seq, i);
      eq('head', b64.encode(state.head), step.link);
      eq('group id', state.groupId, g.group_id);
      eq('members', memberList(state), step.members);
      for (const [userId, m] of state.members) eq(`ik of ${userId}`, m.ik, d(byId(userId).ik));
      if (before) {
        eq('earlier state unchanged (seq)', before.seq, i - 1);
        eq('earlier state unchanged (members)', JSON.stringify(memberList(before)), beforeMembers);
      }
    });
  }
  await check('group: the whole chain verified at once, pins', async () => {
    const last = g.chain[g.chain.length - 1];
    const whole = await group.verifyChain(chain);
    eq('seq', whole.seq, g.chain.length - 1);
    eq('head', b64.encode(whole.head), last.link);
    eq('members', memberList(whole), last.members);
    if (!whole.isMember(last.members[0].user_id) || whole.isMember(people.carol.user_id)) throw new Error('isMember');
    await refusedWith('empty chain', 'group change 0 refused: the chain is empty', () => group.verifyChain([]));
    await refusedWith('a chain not starting at its create', 'group change 1 refused: the first change must have seq 0 and no prev', () => group.verifyChain(chain.slice(1)));
    await refusedWith('changes out of order', 'group change 2 refused: the change does not follow the last one (seq)', () => group.verifyChain([chain[0], chain[2], chain[1]]));
    await whole.checkPins((uid) => d(byId(uid).ik));
    await whole.checkPins(() => null);
    const bob = people.bob.user_id;
    await refusedWith('changed pin', `group member ${bob} has an identity key other than the pinned one (safety number changed)`,
      () => whole.checkPins(async (uid) => (uid === bob ? d(g.mallory.ik) : d(byId(uid).ik))));
    let forged = false;
    try {
      new group.GroupState(Symbol('GroupState'), g.group_id, 0, new Uint8Array(32), new Map());
      forged = true;
    } catch {
      // only the module makes states
    }
    if (forged) throw new Error('a GroupState was made outside genesis/apply');
  });
  for (const c of g.invalid) {
    await check(`group: refuses ${c.name}`, async () => {
      const before = await group.verifyChain(chain.slice(0, c.after));
      const bad = group.parseSignedChange(c.signed);
      await refusedWith('apply', c.error, () => group.apply(before, bad));
      eq('state unchanged', [before.seq, b64.encode(before.head)], [c.after - 1, g.chain[c.after - 1].link]);
      await refusedWith('in a chain', c.error, () => group.verifyChain([...chain.slice(0, c.after), bad]));
    });
  }
  await check('group: non-canonical and malformed changes refused', async () => {
    const after1 = await group.verifyChain(chain.slice(0, 1));
    const text = g.chain[1].change;
    const nonCanonical = 'group change is not in canonical form (member order, spacing or number format)';
    // The untouched text, signed again, is accepted: only the alteration is refused below.
    await group.apply(after1, await signedText('alice', text));
    const j = JSON.parse(text);
    const variants = {
      'an extra space': text.replace('"seq":1', '"seq": 1'),
      'top-level members reordered': JSON.stringify({ group_id: j.group_id, v: j.v, ...j }),
      'a member\'s members reordered': JSON.stringify({ ...j, members: j.members.map((m) => ({ ik: m.ik, user_id: m.user_id, admin: m.admin })) }),
      'author members reordered': JSON.stringify({ ...j, author: { ik: j.author.ik, user_id: j.author.user_id } }),
      'a trailing newline': `${text}\n`,
      'an escaped character': text.replace('"op":"add"', '"op":"\\u0061dd"'),
      'no prev member': JSON.stringify({ ...j, prev: undefined }),
    };
    for (const [name, altered] of Object.entries(variants)) {
      if (altered === text) throw new Error(`${name}: the variant is the original`);
      await refusedWith(name, nonCanonical, async () => group.apply(after1, await signedText('alice', altered)));
    }
    const withText = async (name, altered, message) => refusedWith(name, message, async () => group.apply(after1, await signedText('alice', altered)));
    await rejects('a float', 'Json', async () => group.apply(after1, await signedText('alice', text.replace(/"at":(\d+)/, '"at":$1.0'))));
    await withText('seq above 2^53 - 1', text.replace('"seq":1', '"seq":9007199254740993'), 'seq: integer above 2^53 - 1');
    await withText('an upper-case group id', text.replace(j.group_id, j.group_id.toUpperCase()), 'conv_id: UUID is not in lower-case hyphenated form');
    await withText('an unknown op', text.replace('"op":"add"', '"op":"grant"'), 'op: unknown operation');
    await withText('version 2', text.replace('"v":1', '"v":2'), 'group change: unsupported version 2');
    await withText('a small-order member key', text.replace(j.members[0].ik, b64.encode(new Uint8Array(32))), 'identity key is not a valid, strong Ed25519 public key');
    await refusedWith('an unknown member', 'signed group change: malformed JSON: unknown, missing or wrongly typed member',
      () => group.parseSignedChange(JSON.stringify({ ...JSON.parse(g.chain[1].signed), extra: 1 })));
    await refusedWith('a short signature', 'sig: expected 64 bytes, got 63', () => group.parseSignedChange(JSON.stringify({ change: b64.encode(utf8(text)), sig: b64.encode(new Uint8Array(63)) })));
    await refusedWith('too large', 'group change is too large: 65537 bytes, the limit is 65536', () => group.parseChange(new Uint8Array(65537)));
  });
  return results;
}
