//! The short path's token: [`Consumer::message_at_hand`] looks once,
//! [`Consumer::take_at_hand`] takes only what it saw at its own consumer's
//! current position, and refusing a token loses nothing.

mod common;

use ringlink_core::{Consumer, HeapMemory, Producer};
use std::sync::Arc;

fn send(tx: &mut Producer<Arc<HeapMemory>>, msg: &[u8]) {
    tx.reserve()
        .expect("reserve")
        .expect("room")
        .write(msg)
        .expect("write");
}

fn ends() -> (Producer<Arc<HeapMemory>>, Consumer<Arc<HeapMemory>>) {
    common::ring_ends(8, 0)
}

#[test]
fn a_token_takes_the_message_it_saw() {
    let (mut tx, mut rx) = ends();
    assert!(rx.message_at_hand().is_none(), "nothing sent yet");
    send(&mut tx, b"one");
    let at_hand = rx.message_at_hand().expect("a message");
    let frame = rx.take_at_hand(at_hand).expect("the token is current");
    assert_eq!(frame.payload(), b"one");
    drop(frame);
    assert!(rx.message_at_hand().is_none(), "taken and released");
}

#[test]
fn a_stale_token_is_refused_and_the_next_message_stays() {
    let (mut tx, mut rx) = ends();
    send(&mut tx, b"one");
    send(&mut tx, b"two");
    let stale = rx.message_at_hand().expect("a message");
    assert_eq!(rx.next().expect("next").expect("one").payload(), b"one");
    assert!(rx.take_at_hand(stale).is_none(), "the consumer moved on");
    assert_eq!(rx.next().expect("next").expect("two").payload(), b"two");
}

#[test]
fn another_consumers_token_is_refused() {
    let (mut tx, mut rx) = ends();
    let (mut other_tx, other_rx) = ends();
    send(&mut tx, b"ours");
    send(&mut other_tx, b"theirs");
    let foreign = other_rx.message_at_hand().expect("their message");
    assert!(rx.take_at_hand(foreign).is_none(), "not this consumer's");
    assert_eq!(rx.next().expect("next").expect("ours").payload(), b"ours");
}
