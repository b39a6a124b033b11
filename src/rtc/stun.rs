//! STUN Binding (RFC 8489), just enough to learn the address a NAT maps a socket to: the
//! request we send and the success response we read. Everything else (ICE checks, TURN) is
//! str0m's and the TURN client's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const HEADER: usize = 20;

/// A Binding request's transaction id: 96 random bits.
pub type TransactionId = [u8; 12];

/// A Binding request with no attributes.
pub fn binding_request(id: &TransactionId) -> [u8; HEADER] {
    let mut message = [0u8; HEADER];
    message[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Length 0: no attributes.
    message[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    message[8..20].copy_from_slice(id);
    message
}

/// Whether `data` is a STUN message answering the request `id` (success or error).
pub fn answers(data: &[u8], id: &TransactionId) -> bool {
    data.len() >= HEADER
        && data[0] & 0xc0 == 0
        && data[4..8] == MAGIC_COOKIE.to_be_bytes()
        && data[8..20] == id[..]
}

/// The mapped address in a Binding success response to `id`; None for anything else,
/// malformed input included (it came from the network).
pub fn mapped_address(data: &[u8], id: &TransactionId) -> Option<SocketAddr> {
    if !answers(data, id) || data[0..2] != BINDING_SUCCESS.to_be_bytes() {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let attributes = data.get(HEADER..HEADER + length)?;
    let mut at = 0;
    while at + 4 <= attributes.len() {
        let kind = u16::from_be_bytes([attributes[at], attributes[at + 1]]);
        let size = usize::from(u16::from_be_bytes([attributes[at + 2], attributes[at + 3]]));
        let value = attributes.get(at + 4..at + 4 + size)?;
        if kind == XOR_MAPPED_ADDRESS {
            return xor_address(value, id);
        }
        // Attributes are padded to four bytes.
        at += 4 + size.div_ceil(4) * 4;
    }
    None
}

fn xor_address(value: &[u8], id: &TransactionId) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([value.get(2)? ^ cookie[0], value.get(3)? ^ cookie[1]]);
    let ip = match value.get(1)? {
        0x01 => {
            let raw: [u8; 4] = value.get(4..8)?.try_into().ok()?;
            let mut ip = [0u8; 4];
            for (i, byte) in ip.iter_mut().enumerate() {
                *byte = raw[i] ^ cookie[i];
            }
            IpAddr::V4(Ipv4Addr::from(ip))
        }
        0x02 => {
            let raw: [u8; 16] = value.get(4..20)?.try_into().ok()?;
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&cookie);
            key[4..].copy_from_slice(id);
            let mut ip = [0u8; 16];
            for (i, byte) in ip.iter_mut().enumerate() {
                *byte = raw[i] ^ key[i];
            }
            IpAddr::V6(Ipv6Addr::from(ip))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A success response as a server writes it (RFC 5769's layout, our own bytes).
    fn response(id: &TransactionId, mapped: SocketAddr) -> Vec<u8> {
        let cookie = MAGIC_COOKIE.to_be_bytes();
        let mut value = vec![0u8];
        let port = mapped.port().to_be_bytes();
        let (family, ip): (u8, Vec<u8>) = match mapped.ip() {
            IpAddr::V4(v4) => (1, v4.octets().to_vec()),
            IpAddr::V6(v6) => (2, v6.octets().to_vec()),
        };
        value.push(family);
        value.extend([port[0] ^ cookie[0], port[1] ^ cookie[1]]);
        let key: Vec<u8> = cookie.iter().chain(id.iter()).copied().collect();
        value.extend(ip.iter().zip(key).map(|(b, k)| b ^ k));
        // A SOFTWARE attribute of 5 bytes first, padded, to check the walk.
        let mut attributes = vec![0x80, 0x22, 0, 5, b'c', b'o', b't', b'u', b'r', 0, 0, 0];
        attributes.extend(XOR_MAPPED_ADDRESS.to_be_bytes());
        attributes.extend((value.len() as u16).to_be_bytes());
        attributes.extend(value);
        let mut message = BINDING_SUCCESS.to_be_bytes().to_vec();
        message.extend((attributes.len() as u16).to_be_bytes());
        message.extend(cookie);
        message.extend(id);
        message.extend(attributes);
        message
    }

    #[test]
    fn reads_the_mapped_address_of_both_families() {
        let id = [7u8; 12];
        for mapped in ["203.0.113.9:41000", "[2001:db8::1]:5000"] {
            let mapped: SocketAddr = mapped.parse().unwrap();
            assert_eq!(mapped_address(&response(&id, mapped), &id), Some(mapped));
        }
    }

    #[test]
    fn ignores_other_transactions_and_damaged_messages() {
        let id = [7u8; 12];
        let good = response(&id, "203.0.113.9:41000".parse().unwrap());
        assert_eq!(mapped_address(&good, &[8u8; 12]), None);
        for cut in 0..good.len() {
            assert_eq!(mapped_address(&good[..cut], &id), None, "cut at {cut}");
        }
        let mut lying = good.clone();
        lying[3] = 0xff; // a length beyond the message
        assert_eq!(mapped_address(&lying, &id), None);
        let request = binding_request(&id);
        assert!(answers(&request, &id));
        assert_eq!(mapped_address(&request, &id), None);
    }
}
