//! Typed (rkyv) messages over memfd links: read in place, validated, in
//! both trust modes and over the out-of-band path.

use ringlink_core::{FrameReceiver, FrameSender, typed};
use ringlink_memfd::{LinkOptions, Trust, pair};
use std::time::Duration;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct Record {
    id: u64,
    name: String,
    values: Vec<u32>,
}

#[test]
fn typed_messages_stay_aligned_in_both_trust_modes() {
    for trust in [Trust::Untrusted, Trust::Peer] {
        let options = LinkOptions {
            frame_message: 1024,
            frames: 8,
            trust,
            ..LinkOptions::default()
        };
        let (mut a, mut b) = pair(&options).unwrap();
        for id in 0..20u64 {
            let record = Record {
                id,
                name: format!("record {id}"),
                values: (0..id as u32).collect(),
            };
            let frame = a.reserve().unwrap().expect("room");
            typed::write(frame, &record).unwrap();
            a.flush().unwrap();
            let msg = b.recv(Some(Duration::from_secs(5))).unwrap();
            let archived = typed::access::<Record>(&msg).expect("aligned and valid");
            assert_eq!(archived.id, id, "{trust:?}");
            assert_eq!(archived.name, record.name);
            assert_eq!(archived.values.len(), id as usize);
        }
    }
}

#[test]
fn large_typed_messages_travel_out_of_band() {
    let options = LinkOptions {
        frame_message: 256,
        frames: 8,
        ..LinkOptions::default()
    };
    let (mut a, mut b) = pair(&options).unwrap();
    let record = Record {
        id: 1,
        name: "big".into(),
        values: (0..10_000).collect(),
    };
    // Too big for a frame: serialize to bytes, send them (COPY).
    let mut bytes = vec![0u8; 64 << 10];
    let len = typed::serialize_into(&mut bytes, &record).unwrap();
    a.send(&bytes[..len], None).unwrap();
    let msg = b.recv(Some(Duration::from_secs(5))).unwrap();
    assert!(msg.is_copy());
    assert_eq!(typed::deserialize::<Record>(&msg).unwrap(), record);
}
