//! iceoryx2's zero-copy publish/subscribe as a baseline: one service each
//! way, a slice of bytes loaned from the publisher's shared data segment,
//! written in place and sent; the subscriber busy-polls and reads in place.
//! No overflow (a full subscriber buffer holds the publisher back), so
//! nothing is lost, as with the rings.

use super::transport::Transport;
use iceoryx2::port::LoanError;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

/// Service type: shared memory between processes.
type Ipc = ipc::Service;

/// A publish/subscribe service of byte slices.
type Factory = iceoryx2::service::port_factory::publish_subscribe::PortFactory<Ipc, [u8], ()>;

/// One end: a publisher on our way out and a subscriber on our way in.
pub(super) struct Iceoryx {
    publisher: Publisher<Ipc, [u8], ()>,
    subscriber: Subscriber<Ipc, [u8], ()>,
    // Dropped last: the ports live in the node.
    _node: Node<Ipc>,
}

/// A service of case `prefix` (unique per case) one way (`way`), at most
/// `depth` samples queued for the subscriber.
fn service(node: &Node<Ipc>, prefix: &str, way: &str, depth: usize) -> Result<Factory, String> {
    let name: ServiceName = format!("{prefix}/{way}")
        .as_str()
        .try_into()
        .map_err(|e| format!("iceoryx2 service name: {e:?}"))?;
    node.service_builder(&name)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(depth)
        .subscriber_max_borrowed_samples(1)
        .enable_safe_overflow(false)
        .open_or_create()
        .map_err(|e| format!("iceoryx2 service {prefix}/{way}: {e:?}"))
}

impl Iceoryx {
    /// Opens (or creates) the two services of case `prefix`, messages of
    /// `size` bytes, `depth` of them in flight each way; `parent` says
    /// which way is ours to publish.
    pub(super) fn open(
        prefix: &str,
        size: usize,
        depth: usize,
        parent: bool,
    ) -> Result<Iceoryx, String> {
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new()
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Ipc>()
            .map_err(|e| format!("iceoryx2 node: {e:?}"))?;
        let (out, back) = if parent {
            ("down", "up")
        } else {
            ("up", "down")
        };
        let outgoing = service(&node, prefix, out, depth)?;
        let incoming = service(&node, prefix, back, depth)?;
        let publisher = outgoing
            .publisher_builder()
            .initial_max_slice_len(size)
            .max_loaned_samples(1)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(|e| format!("iceoryx2 publisher: {e:?}"))?;
        let subscriber = incoming
            .subscriber_builder()
            .buffer_size(depth)
            .create()
            .map_err(|e| format!("iceoryx2 subscriber: {e:?}"))?;
        Ok(Iceoryx {
            publisher,
            subscriber,
            _node: node,
        })
    }
}

impl Transport for Iceoryx {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        loop {
            match self.publisher.loan_slice_uninit(msg.len()) {
                Ok(sample) => {
                    return sample
                        .write_from_slice(msg)
                        .send()
                        .map(drop)
                        .map_err(|e| format!("iceoryx2 send: {e:?}"));
                }
                // Every sample is in flight: wait for the subscriber.
                Err(LoanError::OutOfMemory) => std::hint::spin_loop(),
                Err(e) => return Err(format!("iceoryx2 loan: {e:?}")),
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        loop {
            let sample = self
                .subscriber
                .receive()
                .map_err(|e| format!("iceoryx2 receive: {e:?}"))?;
            if let Some(sample) = sample {
                let payload = sample.payload();
                if payload.len() != buf.len() {
                    return Err(format!(
                        "iceoryx2: a {}-byte sample, {} expected",
                        payload.len(),
                        buf.len()
                    ));
                }
                buf.copy_from_slice(payload);
                return Ok(());
            }
            std::hint::spin_loop();
        }
    }
}
