//! The transport of a Confer room (`call::confer_mesh`): Confer's signaling client, and from
//! the moment the room's media moves to an SFU also a connection to that Janus, as one pair of
//! queues for the call. The call's life is the signaling server's: the events end when its
//! client's do, whatever Janus does.

use tokio::sync::mpsc;

use super::confer_mesh::{ConferEvent, ConferMessage};
use crate::signal::client::SignalingClient;
use crate::signal::janus_client::{JanusClient, JanusClosed, JanusCommand, JanusEvent};

/// Starts the task on the current tokio runtime.
pub fn start(
    signaling: SignalingClient,
) -> (mpsc::Sender<ConferMessage>, mpsc::Receiver<ConferEvent>) {
    let (messages, message_rx) = mpsc::channel(64);
    let (event_tx, events) = mpsc::channel(256);
    tokio::spawn(run(signaling, message_rx, event_tx));
    (messages, events)
}

async fn run(
    mut signaling: SignalingClient,
    mut messages: mpsc::Receiver<ConferMessage>,
    events: mpsc::Sender<ConferEvent>,
) {
    let mut janus: Option<JanusClient> = None;
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Some(ConferMessage::Confer(command)) => {
                    // A client that has ended refuses it; its last events still come.
                    let _ = signaling.commands.send(command).await;
                }
                Some(ConferMessage::OpenJanus(url)) => {
                    if janus.is_some() {
                        continue;
                    }
                    match JanusClient::start(url, None) {
                        Ok(client) => janus = Some(client),
                        Err(e) => {
                            let closed = JanusClosed::Unreachable { attempts: 0, why: e.to_string() };
                            let _ = events.send(ConferEvent::Janus(JanusEvent::Closed(closed))).await;
                        }
                    }
                }
                Some(ConferMessage::Janus(command)) => {
                    if let Some(client) = &janus {
                        let leaving = command == JanusCommand::Leave;
                        let _ = client.commands.send(command).await;
                        if leaving {
                            // Its connection closes; what it says after is not needed.
                            janus = None;
                        }
                    }
                }
                // The call has ended: dropping the clients closes their connections.
                None => return,
            },
            event = signaling.events.recv() => match event {
                Some(event) => {
                    if events.send(ConferEvent::Confer(event)).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            event = async { janus.as_mut()?.events.recv().await }, if janus.is_some() => match event {
                Some(event) => {
                    if events.send(ConferEvent::Janus(event)).await.is_err() {
                        return;
                    }
                }
                None => janus = None,
            },
        }
    }
}
