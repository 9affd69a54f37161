//! Tiny wire-protocol handshakes that tell whether an engine really answers, over plain
//! `std::net::TcpStream` (no client library): Kafka's ApiVersions and CQL's OPTIONS.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

const IO_TIMEOUT: Duration = Duration::from_secs(3);

fn connect(port: u16) -> Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("nothing accepts connections on {addr}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Kafka ApiVersions v0 request with a fixed correlation id (API key 18).
const KAFKA_CORRELATION_ID: i32 = 0x5649_4749; // "VIGI"
const KAFKA_CLIENT_ID: &[u8] = b"vigil-xtask";

fn kafka_api_versions_request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // api_key: ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // api_version
    body.extend_from_slice(&KAFKA_CORRELATION_ID.to_be_bytes());
    let client_len = i16::try_from(KAFKA_CLIENT_ID.len()).expect("short client id");
    body.extend_from_slice(&client_len.to_be_bytes());
    body.extend_from_slice(KAFKA_CLIENT_ID);
    let mut frame = u32::try_from(body.len())
        .expect("small frame")
        .to_be_bytes()
        .to_vec();
    frame.extend(body);
    frame
}

/// Parses an ApiVersions v0 response body (after the size): how many APIs the broker offers.
pub fn parse_kafka_api_versions(body: &[u8]) -> Result<usize> {
    ensure!(
        body.len() >= 10,
        "ApiVersions answer too short ({} bytes)",
        body.len()
    );
    let correlation = i32::from_be_bytes(body[0..4].try_into()?);
    ensure!(
        correlation == KAFKA_CORRELATION_ID,
        "ApiVersions answer has correlation id {correlation}, not ours"
    );
    let error = i16::from_be_bytes(body[4..6].try_into()?);
    ensure!(error == 0, "ApiVersions answered error code {error}");
    let count = i32::from_be_bytes(body[6..10].try_into()?);
    let count = usize::try_from(count).context("negative API count")?;
    ensure!(
        body.len() >= 10 + count * 6,
        "ApiVersions answer lists {count} APIs but is only {} bytes",
        body.len()
    );
    Ok(count)
}

/// Sends ApiVersions to the broker on 127.0.0.1:`port`; returns how many APIs it offers.
pub fn kafka_api_versions(port: u16) -> Result<usize> {
    let mut stream = connect(port)?;
    stream.write_all(&kafka_api_versions_request())?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = usize::try_from(u32::from_be_bytes(size))?;
    ensure!(size <= 1 << 20, "ApiVersions answer claims {size} bytes");
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body)?;
    parse_kafka_api_versions(&body)
}

/// CQL native protocol v4 OPTIONS: version 0x04, flags 0, stream 0, opcode 0x05, length 0.
pub const CQL_OPTIONS_V4: [u8; 9] = [0x04, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 0];
const CQL_OPCODE_ERROR: u8 = 0x00;
const CQL_OPCODE_SUPPORTED: u8 = 0x06;

/// Parses a CQL `[string multimap]` (the SUPPORTED body) into key/values pairs.
pub fn parse_cql_multimap(body: &[u8]) -> Result<Vec<(String, Vec<String>)>> {
    let mut at = 0;
    let short = |at: &mut usize| -> Result<usize> {
        let bytes = body.get(*at..*at + 2).context("CQL body cut short")?;
        *at += 2;
        Ok(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
    };
    let string = |at: &mut usize, len: usize| -> Result<String> {
        let bytes = body.get(*at..*at + len).context("CQL string cut short")?;
        *at += len;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let mut pairs = Vec::new();
    for _ in 0..short(&mut at)? {
        let key_len = short(&mut at)?;
        let key = string(&mut at, key_len)?;
        let mut values = Vec::new();
        for _ in 0..short(&mut at)? {
            let len = short(&mut at)?;
            values.push(string(&mut at, len)?);
        }
        pairs.push((key, values));
    }
    Ok(pairs)
}

/// Sends OPTIONS to 127.0.0.1:`port`; returns the SUPPORTED map (CQL_VERSION, ...).
pub fn cql_options(port: u16) -> Result<Vec<(String, Vec<String>)>> {
    let mut stream = connect(port)?;
    stream.write_all(&CQL_OPTIONS_V4)?;
    let mut header = [0u8; 9];
    stream.read_exact(&mut header)?;
    let length = usize::try_from(u32::from_be_bytes(header[5..9].try_into()?))?;
    ensure!(length <= 1 << 20, "CQL answer claims {length} bytes");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    match header[4] {
        CQL_OPCODE_SUPPORTED => parse_cql_multimap(&body),
        CQL_OPCODE_ERROR => bail!(
            "CQL OPTIONS answered ERROR: {}",
            String::from_utf8_lossy(body.get(6..).unwrap_or_default())
        ),
        other => bail!("CQL OPTIONS answered opcode {other:#04x}, not SUPPORTED"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_request_is_a_sized_v0_frame() {
        let frame = kafka_api_versions_request();
        let size = u32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize;
        assert_eq!(size, frame.len() - 4);
        assert_eq!(&frame[4..8], &[0, 18, 0, 0]);
        assert!(frame.ends_with(KAFKA_CLIENT_ID));
    }

    fn api_versions_answer(correlation: i32, error: i16, apis: &[(i16, i16, i16)]) -> Vec<u8> {
        let mut body = correlation.to_be_bytes().to_vec();
        body.extend_from_slice(&error.to_be_bytes());
        body.extend_from_slice(&(apis.len() as i32).to_be_bytes());
        for (key, min, max) in apis {
            for n in [key, min, max] {
                body.extend_from_slice(&n.to_be_bytes());
            }
        }
        body
    }

    #[test]
    fn parses_api_versions_answers() {
        let ok = api_versions_answer(KAFKA_CORRELATION_ID, 0, &[(0, 3, 12), (18, 0, 4)]);
        assert_eq!(parse_kafka_api_versions(&ok).unwrap(), 2);
        let error = api_versions_answer(KAFKA_CORRELATION_ID, 35, &[]);
        assert!(parse_kafka_api_versions(&error).is_err());
        let other = api_versions_answer(7, 0, &[]);
        assert!(parse_kafka_api_versions(&other).is_err());
        let mut cut = ok.clone();
        cut.truncate(12);
        assert!(parse_kafka_api_versions(&cut).is_err());
    }

    fn cql_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn parses_a_supported_multimap() {
        let mut body = 2u16.to_be_bytes().to_vec();
        cql_string(&mut body, "CQL_VERSION");
        body.extend_from_slice(&1u16.to_be_bytes());
        cql_string(&mut body, "3.4.7");
        cql_string(&mut body, "COMPRESSION");
        body.extend_from_slice(&2u16.to_be_bytes());
        cql_string(&mut body, "snappy");
        cql_string(&mut body, "lz4");
        let map = parse_cql_multimap(&body).unwrap();
        assert_eq!(map[0], ("CQL_VERSION".into(), vec!["3.4.7".into()]));
        assert_eq!(map[1].1, ["snappy", "lz4"]);
        assert!(parse_cql_multimap(&body[..body.len() - 1]).is_err());
    }
}
