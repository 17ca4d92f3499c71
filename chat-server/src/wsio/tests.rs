//! Framing tests over an in-memory pipe, with fastwebsockets as the client.

use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use tokio::io::{AsyncReadExt, DuplexStream, duplex};

use super::*;

fn pair(max: usize) -> (MessageReader<DuplexStream>, WebSocket<DuplexStream>) {
    let (server, client) = duplex(1 << 20);
    (
        MessageReader::new(server, max),
        WebSocket::after_handshake(client, Role::Client),
    )
}

async fn send(client: &mut WebSocket<DuplexStream>, fin: bool, opcode: OpCode, payload: &[u8]) {
    let frame = Frame::new(fin, opcode, None, Payload::Owned(payload.to_vec()));
    client.write_frame(frame).await.expect("client write");
}

#[tokio::test]
async fn joins_fragments_of_a_text_message() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, false, OpCode::Text, b"{\"a\":").await;
    send(&mut client, false, OpCode::Continuation, b" \"\xc3").await;
    send(&mut client, true, OpCode::Continuation, b"\xa9\"}").await;
    assert_eq!(
        reader.next().await.ok(),
        Some(Inbound::Text("{\"a\": \"é\"}".as_bytes().to_vec()))
    );
}

#[tokio::test]
async fn a_single_frame_at_the_limit_passes_and_one_byte_more_is_too_big() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, true, OpCode::Text, &[b'x'; 1024]).await;
    assert!(matches!(reader.next().await, Ok(Inbound::Text(t)) if t.len() == 1024));
    send(&mut client, true, OpCode::Text, &[b'x'; 1025]).await;
    assert!(matches!(
        reader.next().await,
        Err(ReadError::Violation(Violation::TooBig))
    ));
}

#[tokio::test]
async fn fragments_adding_up_over_the_limit_are_too_big() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, false, OpCode::Text, &[b'x'; 600]).await;
    send(&mut client, false, OpCode::Continuation, &[b'x'; 600]).await;
    assert!(matches!(
        reader.next().await,
        Err(ReadError::Violation(Violation::TooBig))
    ));
}

#[tokio::test]
async fn a_continuation_without_a_message_is_a_protocol_error() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, true, OpCode::Continuation, b"x").await;
    assert!(matches!(
        reader.next().await,
        Err(ReadError::Violation(Violation::Protocol(_)))
    ));
}

#[tokio::test]
async fn binary_and_invalid_utf8_are_violations() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, true, OpCode::Binary, b"\x00\x01").await;
    assert!(matches!(
        reader.next().await,
        Err(ReadError::Violation(Violation::Binary))
    ));

    let (mut reader, mut client) = pair(1024);
    send(&mut client, true, OpCode::Text, b"\xff\xfe").await;
    assert!(matches!(
        reader.next().await,
        Err(ReadError::Violation(Violation::InvalidUtf8))
    ));

    let (mut reader, mut client) = pair(1024);
    send(&mut client, false, OpCode::Text, b"ok").await;
    send(&mut client, true, OpCode::Continuation, b"\xc3\x28").await;
    assert!(matches!(
        reader.next().await,
        Err(ReadError::Violation(Violation::InvalidUtf8))
    ));
}

#[tokio::test]
async fn control_frames_come_out_between_fragments() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, false, OpCode::Text, b"he").await;
    send(&mut client, true, OpCode::Ping, b"p").await;
    send(&mut client, true, OpCode::Continuation, b"llo").await;
    send(&mut client, true, OpCode::Close, &[0x03, 0xe8, b'b', b'y', b'e']).await;
    assert_eq!(reader.next().await.ok(), Some(Inbound::Ping(b"p".to_vec())));
    assert_eq!(reader.next().await.ok(), Some(Inbound::Text(b"hello".to_vec())));
    assert_eq!(reader.next().await.ok(), Some(Inbound::Close(Some(1000))));
}

#[tokio::test]
async fn close_codes_not_allowed_on_the_wire_are_protocol_errors_and_eof_is_gone() {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let (mut reader, mut client) = pair(1024);
        send(&mut client, true, OpCode::Close, &code.to_be_bytes()).await;
        let read = reader.next().await;
        assert!(
            is_protocol_error(&read, "close code not allowed in a close frame"),
            "{code}: {read:?}"
        );
    }
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        let (mut reader, mut client) = pair(1024);
        send(&mut client, true, OpCode::Close, &code.to_be_bytes()).await;
        assert_eq!(reader.next().await.ok(), Some(Inbound::Close(Some(code))));
    }
    let (mut reader, mut client) = pair(1024);
    send(&mut client, true, OpCode::Close, &[]).await;
    assert_eq!(reader.next().await.ok(), Some(Inbound::Close(None)));
    drop(client);
    assert!(matches!(reader.next().await, Err(ReadError::Gone)));
}

#[tokio::test]
async fn a_close_reason_that_is_not_utf8_is_its_own_violation() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, true, OpCode::Close, &[0x03, 0xe8, 0xff, 0xfe]).await;
    let read = reader.next().await;
    assert!(
        matches!(read, Err(ReadError::Violation(Violation::InvalidCloseReason))),
        "{read:?}"
    );
    let (code, reason) = Violation::InvalidCloseReason.close(1024);
    assert_eq!(code, 1007);
    assert!(reason.contains("close frame reason"), "{reason}");
}

#[tokio::test]
async fn writer_sends_many_frames_in_one_write_that_a_client_reads_back() {
    let (server, client) = duplex(1 << 20);
    let mut writer = FrameWriter::new(server);
    writer.push_text("one");
    writer.push_text(&"x".repeat(70_000));
    writer.push_ping(b"");
    writer.push_close(4003, &"é".repeat(100));
    let (frames, bytes) = writer.flush().await.expect("flush");
    assert_eq!(frames, 4);
    assert_eq!(writer.pending_bytes(), 0);
    writer.shutdown().await.expect("shutdown");

    let mut ws = WebSocket::after_handshake(client, Role::Client);
    ws.set_auto_pong(false);
    ws.set_auto_close(false);
    let f = ws.read_frame().await.expect("first");
    assert_eq!((f.opcode, &f.payload[..]), (OpCode::Text, &b"one"[..]));
    let f = ws.read_frame().await.expect("second");
    assert_eq!((f.opcode, f.payload.len()), (OpCode::Text, 70_000));
    assert_eq!(ws.read_frame().await.expect("ping").opcode, OpCode::Ping);
    let f = ws.read_frame().await.expect("close");
    assert_eq!(f.opcode, OpCode::Close);
    assert_eq!(u16::from_be_bytes([f.payload[0], f.payload[1]]), 4003);
    // The reason was cut to at most 123 bytes on a character boundary.
    assert!(f.payload.len() - 2 <= 123);
    assert!(std::str::from_utf8(&f.payload[2..]).is_ok());
    assert!(bytes > 70_000);
    let mut rest = Vec::new();
    let mut inner = ws.into_inner();
    inner.read_to_end(&mut rest).await.expect("eof");
    assert!(rest.is_empty());
}

/// A reader fed raw bytes, for frames no well-behaved client library would send.
async fn read_raw(bytes: &[u8], max: usize) -> Result<Inbound, ReadError> {
    let (server, mut client) = duplex(1 << 16);
    tokio::io::AsyncWriteExt::write_all(&mut client, bytes)
        .await
        .expect("write");
    // The client stays open: a reader that waits for more bytes than it needs would hang.
    let mut reader = MessageReader::new(server, max);
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), reader.next())
        .await
        .expect("the reader decided without more bytes");
    drop(client);
    read
}

fn is_protocol_error(read: &Result<Inbound, ReadError>, what: &str) -> bool {
    matches!(read, Err(ReadError::Violation(Violation::Protocol(w))) if *w == what)
}

#[tokio::test]
async fn frames_that_break_the_framing_rules_are_protocol_errors() {
    // FIN + text, masked, length 2, mask 0, payload "hi": the well-formed reference.
    let good = [0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
    assert_eq!(
        read_raw(&good, 1024).await.ok(),
        Some(Inbound::Text(b"hi".to_vec()))
    );
    let cases: [(&[u8], &str); 5] = [
        (&[0x81, 0x02, b'h', b'i'], "unmasked client frame"),
        (&[0xC1, 0x82, 0, 0, 0, 0, b'h', b'i'], "reserved bits set"),
        (&[0x83, 0x80, 0, 0, 0, 0], "unknown opcode"),
        (&[0x09, 0x80, 0, 0, 0, 0], "fragmented control frame"),
        (&[0x89, 0xFE, 0x00, 0x7E], "control frame payload over 125 bytes"),
    ];
    for (bytes, what) in cases {
        let read = read_raw(bytes, 1024).await;
        assert!(is_protocol_error(&read, what), "{what}: {read:?}");
    }
    let huge = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert!(is_protocol_error(
        &read_raw(&huge, 1024).await,
        "payload length with the top bit set"
    ));
}

#[tokio::test]
async fn an_oversized_frame_is_refused_before_its_payload_arrives() {
    // A header announcing 1 MiB (64-bit length) and nothing after it.
    let head = [0x81, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0];
    assert!(matches!(
        read_raw(&head, 64 * 1024).await,
        Err(ReadError::Violation(Violation::TooBig))
    ));
    // 16-bit length: 1,025 bytes against a 1,024-byte limit.
    assert!(matches!(
        read_raw(&[0x81, 0xFE, 0x04, 0x01], 1024).await,
        Err(ReadError::Violation(Violation::TooBig))
    ));
}

#[tokio::test]
async fn masked_payloads_are_unmasked() {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let text = b"Hello";
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    assert_eq!(
        read_raw(&frame, 1024).await.ok(),
        Some(Inbound::Text(text.to_vec()))
    );
}

#[tokio::test]
async fn a_ping_in_the_middle_of_a_message_that_nearly_fills_the_limit_still_passes() {
    let (mut reader, mut client) = pair(1024);
    send(&mut client, false, OpCode::Text, &[b'x'; 1000]).await;
    send(&mut client, true, OpCode::Ping, &[b'p'; 100]).await;
    send(&mut client, true, OpCode::Continuation, &[b'x'; 24]).await;
    assert_eq!(reader.next().await.ok(), Some(Inbound::Ping(vec![b'p'; 100])));
    assert!(matches!(reader.next().await, Ok(Inbound::Text(t)) if t.len() == 1024));
}

#[tokio::test]
async fn discarding_stops_at_its_byte_bound_or_at_the_end_of_the_stream() {
    let (server, mut client) = duplex(1 << 16);
    tokio::io::AsyncWriteExt::write_all(&mut client, &[7u8; 100])
        .await
        .expect("write");
    let mut reader = MessageReader::new(server, 1024);
    reader.discard(40).await;
    drop(client);
    let mut rest = Vec::new();
    reader.io.read_to_end(&mut rest).await.expect("rest");
    assert_eq!(rest.len(), 60, "only the bound was read");

    let (server, client) = duplex(1 << 16);
    drop(client);
    let mut reader = MessageReader::new(server, 1024);
    tokio::time::timeout(std::time::Duration::from_secs(5), reader.discard(1 << 20))
        .await
        .expect("an ended stream ends the discarding");
}
