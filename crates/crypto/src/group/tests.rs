//! The chain's rules, one by one, and what a server trying to forge membership runs into.

use securechat_proto::ids::UserId;
use uuid::Uuid;

use super::*;
use crate::identity::IdentityKeyPair;
use crate::ids::ConvId;
use crate::CryptoError;

struct Person {
    id: UserId,
    key: IdentityKeyPair,
}

fn person(n: u8) -> Person {
    Person {
        id: UserId(Uuid::from_u128(
            0x0193_650e_2c00_7000_8000_0000_0000_0000 + u128::from(n),
        )),
        key: IdentityKeyPair::from_seed(&[n; 32]),
    }
}

fn member(p: &Person, admin: bool) -> ChangeMember {
    ChangeMember {
        user_id: p.id,
        ik: p.key.public(),
        admin,
    }
}

const GROUP: Uuid = Uuid::from_u128(0x5e1f_0000_0000_4000_8000_0000_0000_0001);

fn change(
    author: &Person,
    state: Option<&GroupState>,
    op: Op,
    members: Vec<ChangeMember>,
) -> Change {
    Change {
        group_id: ConvId(GROUP),
        seq: state.map_or(0, |s| s.seq() + 1),
        prev: state.map(GroupState::head),
        author: author.id,
        author_ik: author.key.public(),
        at_ms: 1_732_530_000_000,
        op,
        members,
    }
}

fn signed(
    author: &Person,
    state: Option<&GroupState>,
    op: Op,
    members: Vec<ChangeMember>,
) -> SignedChange {
    change(author, state, op, members)
        .sign(&author.key)
        .expect("sign")
}

fn refused(result: Result<GroupState, CryptoError>, reason: &str) {
    match result {
        Err(CryptoError::GroupChange { reason: got, .. }) => assert_eq!(got, reason),
        other => panic!("expected the refusal '{reason}', got {other:?}"),
    }
}

/// Alice creates the group with Bob; Carol is not in it; Mallory is a key the server made.
fn family() -> (
    Person,
    Person,
    Person,
    Person,
    GroupState,
    Vec<SignedChange>,
) {
    let (alice, bob, carol, mallory) = (person(1), person(2), person(3), person(9));
    let create = signed(
        &alice,
        None,
        Op::Create,
        vec![member(&alice, true), member(&bob, false)],
    );
    let state = GroupState::genesis(&create).expect("create");
    (alice, bob, carol, mallory, state, vec![create])
}

#[test]
fn a_chain_of_changes_leads_every_verifier_to_the_same_membership() {
    let (alice, bob, carol, _, s0, mut chain) = family();
    let add = signed(&alice, Some(&s0), Op::Add, vec![member(&carol, false)]);
    let s1 = s0.apply(&add).expect("add carol");
    chain.push(add);
    let promote = signed(&alice, Some(&s1), Op::Admin, vec![member(&bob, true)]);
    let s2 = s1.apply(&promote).expect("bob admin");
    chain.push(promote);
    let remove = signed(&bob, Some(&s2), Op::Remove, vec![member(&carol, false)]);
    let s3 = s2.apply(&remove).expect("bob removes carol");
    chain.push(remove);
    let leave = signed(&alice, Some(&s3), Op::Leave, vec![member(&alice, true)]);
    let s4 = s3.apply(&leave).expect("alice leaves");
    chain.push(leave);

    let verified = GroupState::verify(&chain).expect("the whole chain");
    assert_eq!(verified, s4);
    assert_eq!(verified.seq(), 4);
    assert_eq!(verified.members().len(), 1);
    assert!(verified.members()[&bob.id].admin);
    assert!(!verified.is_member(&carol.id), "a removed member is out");
    // The transport form round-trips.
    let again = SignedChange::from_json(&chain[2].to_json()).expect("json");
    assert_eq!(again, chain[2]);
}

#[test]
fn the_server_cannot_add_a_member_by_itself() {
    let (alice, bob, _, mallory, s0, _) = family();
    // A change signed by a key that is not a member's (the server's own, say).
    let forged = signed(&mallory, Some(&s0), Op::Add, vec![member(&mallory, false)]);
    refused(s0.apply(&forged), "the author is not a member");
    // Claiming to be Alice, with Mallory's key.
    let mut claim = change(&alice, Some(&s0), Op::Add, vec![member(&mallory, false)]);
    claim.author_ik = mallory.key.public();
    let claimed = claim.sign(&mallory.key).expect("sign");
    refused(
        s0.apply(&claimed),
        "the author's key is not the one in the group",
    );
    // Alice's change with another signature, or none.
    let mut unsigned = signed(&alice, Some(&s0), Op::Add, vec![member(&mallory, false)]);
    unsigned.sig = [0; 64];
    assert!(matches!(
        s0.apply(&unsigned),
        Err(CryptoError::BadSignature)
    ));
    // A member who is not an admin.
    let by_bob = signed(&bob, Some(&s0), Op::Add, vec![member(&mallory, false)]);
    refused(s0.apply(&by_bob), "only an admin may change the membership");
}

#[test]
fn a_change_must_extend_the_chain_it_was_made_on() {
    let (alice, _, carol, mallory, s0, _) = family();
    let mut skipped = change(&alice, Some(&s0), Op::Add, vec![member(&carol, false)]);
    skipped.seq = 2;
    refused(
        s0.apply(&skipped.sign(&alice.key).expect("sign")),
        "the change does not follow the last one (seq)",
    );
    let mut unlinked = change(&alice, Some(&s0), Op::Add, vec![member(&carol, false)]);
    unlinked.prev = Some([7; 32]);
    refused(
        s0.apply(&unlinked.sign(&alice.key).expect("sign")),
        "the change does not link to the last one (prev)",
    );
    let mut other_group = change(&alice, Some(&s0), Op::Add, vec![member(&carol, false)]);
    other_group.group_id = ConvId(Uuid::from_u128(42));
    refused(
        s0.apply(&other_group.sign(&alice.key).expect("sign")),
        "the change belongs to another group",
    );
    let again = signed(
        &alice,
        Some(&s0),
        Op::Create,
        vec![member(&alice, true), member(&mallory, false)],
    );
    refused(s0.apply(&again), "only the first change may be a create");
}

#[test]
fn two_admins_at_once_one_wins_and_the_other_retries_on_the_new_head() {
    let (alice, bob, carol, mallory, s0, _) = family();
    let s1 = s0
        .apply(&signed(
            &alice,
            Some(&s0),
            Op::Admin,
            vec![member(&bob, true)],
        ))
        .expect("bob admin");
    let by_alice = signed(&alice, Some(&s1), Op::Add, vec![member(&carol, false)]);
    let by_bob = signed(&bob, Some(&s1), Op::Add, vec![member(&mallory, false)]);
    let s2 = s1.apply(&by_alice).expect("alice first");
    refused(
        s2.apply(&by_bob),
        "the change does not follow the last one (seq)",
    );
    let retried = signed(&bob, Some(&s2), Op::Add, vec![member(&mallory, false)]);
    let s3 = s2.apply(&retried).expect("bob again, on the new head");
    assert_eq!(s3.members().len(), 4);
}

#[test]
fn membership_rules() {
    let (alice, bob, carol, _, s0, _) = family();
    refused(
        s0.apply(&signed(
            &alice,
            Some(&s0),
            Op::Add,
            vec![member(&bob, false)],
        )),
        "an added member is already a member",
    );
    refused(
        s0.apply(&signed(
            &alice,
            Some(&s0),
            Op::Remove,
            vec![member(&carol, false)],
        )),
        "the change names someone who is not a member",
    );
    refused(
        s0.apply(&signed(
            &alice,
            Some(&s0),
            Op::Remove,
            vec![member(&alice, true)],
        )),
        "an admin leaves by a leave, not a remove",
    );
    refused(
        s0.apply(&signed(
            &alice,
            Some(&s0),
            Op::Remove,
            vec![member(&bob, true)],
        )),
        "a removed member must be named with its admin flag",
    );
    refused(
        s0.apply(&signed(
            &alice,
            Some(&s0),
            Op::Leave,
            vec![member(&alice, true)],
        )),
        "the last admin cannot leave while others stay: make another member an admin first",
    );
    refused(
        s0.apply(&signed(
            &alice,
            Some(&s0),
            Op::Unadmin,
            vec![member(&alice, false)],
        )),
        "an admin cannot unadmin itself",
    );
    refused(
        s0.apply(&signed(&alice, Some(&s0), Op::Add, vec![])),
        "the change names no member",
    );
    refused(
        s0.apply(&signed(
            &bob,
            Some(&s0),
            Op::Leave,
            vec![member(&alice, true)],
        )),
        "a leave names only its author",
    );
    let mut swapped = member(&bob, false);
    swapped.ik = carol.key.public();
    refused(
        s0.apply(&signed(&alice, Some(&s0), Op::Remove, vec![swapped])),
        "a member's key differs from the group's",
    );
    // Bob may leave by himself; the rest of the group stays.
    let left = s0
        .apply(&signed(
            &bob,
            Some(&s0),
            Op::Leave,
            vec![member(&bob, false)],
        ))
        .expect("bob leaves");
    assert_eq!(left.members().len(), 1);
}

#[test]
fn a_group_has_at_most_256_members() {
    let alice = person(1);
    let mut members = vec![member(&alice, true)];
    let others: Vec<Person> = (0..MAX_MEMBERS as u32)
        .map(|n| Person {
            id: UserId(Uuid::from_u128(0x1000 + u128::from(n))),
            key: IdentityKeyPair::from_seed(&[(n % 250) as u8 + 3; 32]),
        })
        .collect();
    members.extend(
        others
            .iter()
            .take(MAX_MEMBERS - 1)
            .map(|p| member(p, false)),
    );
    let full =
        GroupState::genesis(&signed(&alice, None, Op::Create, members)).expect("256 members");
    assert_eq!(full.members().len(), MAX_MEMBERS);
    let one_more = signed(
        &alice,
        Some(&full),
        Op::Add,
        vec![member(&others[MAX_MEMBERS - 1], false)],
    );
    refused(full.apply(&one_more), "a group has at most 256 members");
}

#[test]
fn the_first_change_must_make_its_author_an_admin() {
    let (alice, bob) = (person(1), person(2));
    refused(
        GroupState::genesis(&signed(
            &alice,
            None,
            Op::Create,
            vec![member(&alice, false), member(&bob, true)],
        )),
        "the creator must be an admin member with its own key",
    );
    refused(
        GroupState::genesis(&signed(&alice, None, Op::Create, vec![member(&bob, true)])),
        "the creator must be an admin member with its own key",
    );
    refused(
        GroupState::genesis(&signed(
            &alice,
            None,
            Op::Create,
            vec![member(&alice, true), member(&alice, true)],
        )),
        "a member is listed twice",
    );
    refused(GroupState::verify(&[]), "the chain is empty");
}

#[test]
fn a_member_key_other_than_the_pinned_one_is_refused() {
    let (alice, bob, carol, _, s0, _) = family();
    s0.check_pins(|u| (*u == bob.id).then(|| bob.key.public()))
        .expect("pins agree");
    s0.check_pins(|_| None)
        .expect("nothing pinned yet: trust on first use");
    let error = s0
        .check_pins(|u| (*u == alice.id).then(|| carol.key.public()))
        .expect_err("mismatch");
    assert_eq!(error, CryptoError::GroupKeyMismatch { user: alice.id });
}

#[test]
fn change_bytes_must_be_canonical() {
    let (alice, _, _, _, _, chain) = family();
    let text = String::from_utf8(chain[0].bytes.clone()).expect("utf8");
    let spaced = text.replacen(",", ", ", 1);
    assert!(matches!(
        Change::parse(spaced.as_bytes()),
        Err(CryptoError::NonCanonicalGroupChange)
    ));
    let reordered = text
        .replacen("\"v\":1,", "", 1)
        .replacen("}", ",\"v\":1}", 1);
    assert!(Change::parse(reordered.as_bytes()).is_err());
    assert_eq!(
        Change::parse(&chain[0].bytes).expect("canonical").author,
        alice.id
    );
}

#[test]
fn messages_are_admitted_only_from_and_to_the_verified_members() {
    let (alice, bob, mallory) = (person(1), person(2), person(9));
    let state = GroupState::genesis(&signed(
        &alice,
        None,
        Op::Create,
        vec![member(&alice, true), member(&bob, false)],
    ))
    .expect("create");
    assert_eq!(state.admit(&alice.id, &[bob.id, alice.id]), Ok(()));
    assert_eq!(
        state.admit(&bob.id, &[alice.id]),
        Ok(()),
        "a subset is fine"
    );
    assert_eq!(
        state.admit(&mallory.id, &[alice.id, bob.id]),
        Err(CryptoError::GroupSenderNotMember { user: mallory.id })
    );
    assert_eq!(
        state.admit(&alice.id, &[bob.id, mallory.id, alice.id]),
        Err(CryptoError::GroupOutsider { user: mallory.id })
    );
    assert!(state.is_admin(&alice.id) && !state.is_admin(&bob.id) && !state.is_admin(&mallory.id));
}
