//! An in-process link between threads over heap memory: the shared API
//! with no operating-system transport, used by the conformance suite, the
//! stress tests and the micro-benchmarks, and useful on its own.
//!
//! Messages larger than a frame go through an in-memory out-of-band queue
//! with their frame marked COPY, as the memfd transport does with its socket.

use crate::api::{FrameReceiver, FrameSender, Message};
use crate::consumer::Consumer;
use crate::error::{LinkError, RingError};
use crate::geometry::Geometry;
use crate::memory::{HeapMemory, Memory};
use crate::producer::{Producer, WriteGuard};
use crate::ring::ring_ends;
use crate::wait::{Doorbell, DoorbellWords, Notifier, SpinPolicy, wait_until};
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Largest message the channel carries out of band.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The memory and signals both ends of a channel share.
pub struct ChannelMemory {
    ring: HeapMemory,
    /// Rung by the sender when it flushes: data arrived.
    data: DoorbellWords,
    /// Rung by the receiver when it released frames: room freed.
    space: DoorbellWords,
    out_of_band: Mutex<VecDeque<Box<[u8]>>>,
    sender_gone: AtomicBool,
    receiver_gone: AtomicBool,
}

// SAFETY: forwards the heap region, which upholds the contract.
unsafe impl Memory for ChannelMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.ring.as_ptr()
    }
    fn len(&self) -> usize {
        self.ring.len()
    }
}

/// Creates a connected sender and receiver over one ring of `geometry`.
pub fn channel(geometry: Geometry, spin: SpinPolicy) -> Result<(Sender, Receiver), RingError> {
    let shared = Arc::new(ChannelMemory {
        // The frames, then the producer's skip cursor.
        ring: HeapMemory::new(geometry.ring_size() + 64),
        data: DoorbellWords::new(),
        space: DoorbellWords::new(),
        out_of_band: Mutex::new(VecDeque::new()),
        sender_gone: AtomicBool::new(false),
        receiver_gone: AtomicBool::new(false),
    });
    let (producer, consumer) = ring_ends(shared.clone(), geometry, 0)?;
    let sender = Sender {
        producer,
        shared: shared.clone(),
        spin,
    };
    let receiver = Receiver {
        consumer,
        shared,
        spin,
        out_of_band: Box::default(),
    };
    Ok((sender, receiver))
}

/// The sending end of a [`channel`].
pub struct Sender {
    producer: Producer<Arc<ChannelMemory>>,
    shared: Arc<ChannelMemory>,
    spin: SpinPolicy,
}

/// The receiving end of a [`channel`].
pub struct Receiver {
    consumer: Consumer<Arc<ChannelMemory>>,
    shared: Arc<ChannelMemory>,
    spin: SpinPolicy,
    out_of_band: Box<[u8]>,
}

impl Sender {
    fn check_receiver(&self) -> Result<(), LinkError> {
        match self.shared.receiver_gone.load(Acquire) {
            true => Err(LinkError::Disconnected),
            false => Ok(()),
        }
    }
}

impl FrameSender for Sender {
    type Memory = Arc<ChannelMemory>;

    fn reserve(&mut self) -> Result<Option<WriteGuard<'_, Self::Memory>>, LinkError> {
        self.check_receiver()?;
        Ok(self.producer.reserve()?)
    }

    fn flush(&mut self) -> Result<(), LinkError> {
        Doorbell::private(&self.shared.data)
            .notify()
            .map_err(|e| LinkError::io("waking the receiver", e))
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        self.flush()?;
        let (producer, shared) = (&self.producer, &self.shared);
        let ready = || producer.has_room() || shared.receiver_gone.load(Acquire);
        wait_until(&Doorbell::private(&shared.space), self.spin, timeout, ready)
            .map_err(|e| LinkError::io("waiting for room in the ring", e))
    }

    fn frame_capacity(&self) -> usize {
        self.producer.ring().capacity()
    }

    fn frame_count(&self) -> u32 {
        self.producer.ring().frame_nr()
    }

    fn max_message(&self) -> usize {
        MAX_MESSAGE
    }

    fn send_out_of_band(&mut self, msg: &[u8]) -> Result<bool, LinkError> {
        if msg.len() > MAX_MESSAGE {
            return Err(LinkError::TooLarge {
                len: msg.len(),
                max: MAX_MESSAGE,
            });
        }
        let shared = self.shared.clone();
        let Some(frame) = self.reserve()? else {
            return Ok(false);
        };
        // The bytes are queued before the COPY status is published.
        let mut queue = shared
            .out_of_band
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.push_back(msg.into());
        drop(queue);
        frame.commit_copy(msg.len() as u32);
        Ok(true)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.sender_gone.store(true, Release);
        // Best effort: a failed wake leaves the receiver to its timeout.
        let _ = Doorbell::private(&self.shared.data).notify();
    }
}

impl Receiver {
    /// Wakes a sender waiting for room, if one announced itself.
    fn wake_sender(&self) -> Result<(), LinkError> {
        let bell = Doorbell::private(&self.shared.space);
        if bell.has_sleeper() {
            bell.notify()
                .map_err(|e| LinkError::io("waking the sender", e))?;
        }
        Ok(())
    }
}

impl FrameReceiver for Receiver {
    type Memory = Arc<ChannelMemory>;

    fn next(&mut self) -> Result<Option<Message<'_, Self::Memory>>, LinkError> {
        self.wake_sender()?;
        // Read before looking: everything committed before the sender left
        // is then visible to the walk below.
        let gone = self.shared.sender_gone.load(Acquire);
        let Some(frame) = self.consumer.next()? else {
            return match gone {
                true => Err(LinkError::Disconnected),
                false => Ok(None),
            };
        };
        if !frame.is_copy() {
            return Ok(Some(Message::in_frame(frame)));
        }
        let queued = self
            .shared
            .out_of_band
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        match queued {
            Some(bytes) if bytes.len() == frame.copy_len() as usize => {
                self.out_of_band = bytes;
                Ok(Some(Message::copied(frame, &self.out_of_band)))
            }
            other => Err(LinkError::Protocol(format!(
                "COPY frame {} announced {} bytes, out-of-band queue held {:?}",
                frame.index(),
                frame.copy_len(),
                other.map(|b| b.len())
            ))),
        }
    }

    fn poll(&mut self) -> Result<bool, LinkError> {
        let gone = self.shared.sender_gone.load(Acquire);
        Ok(self.consumer.poll()? || gone)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        Doorbell::private(&self.shared.space)
            .notify()
            .map_err(|e| LinkError::io("waking the sender", e))?;
        let (consumer, shared) = (&self.consumer, &self.shared);
        let ready = || consumer.has_pending() || shared.sender_gone.load(Acquire);
        wait_until(&Doorbell::private(&shared.data), self.spin, timeout, ready)
            .map_err(|e| LinkError::io("waiting for messages", e))
    }

    fn pollable_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn consumer(&self) -> &Consumer<Self::Memory> {
        &self.consumer
    }

    fn consumer_mut(&mut self) -> &mut Consumer<Self::Memory> {
        &mut self.consumer
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Release);
        // Best effort: a failed wake leaves the sender to its timeout.
        let _ = Doorbell::private(&self.shared.space).notify();
    }
}
