//! Redis Cluster hash slots, computed as the servers do.
//!
//! A cluster keeps every key in one of 16384 slots, chosen by the CRC16 of the key or, when
//! the key holds a non-empty `{...}` section, of the text between the first `{` and the next
//! `}` (its hash tag). A multi-key command, transaction or script must only touch keys of one
//! slot; keys that are used together therefore share a hash tag. The Redis backend also uses
//! this to split naturally cross-slot batches (e.g. `MGET` of many cache entries) per slot.

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The hash slot of `key` (the full key, with the store's prefix).
#[must_use]
pub fn key_slot(key: &str) -> u16 {
    crc16(hash_tag(key).as_bytes()) % SLOTS
}

/// The part of `key` that decides its slot: the first non-empty `{...}` section, else the key.
#[must_use]
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.find('}')
            && close > 0
        {
            return &rest[..close];
        }
    }
    key
}

/// CRC16-CCITT (XMODEM), the checksum of the cluster specification.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_cluster_specification() {
        // The reference value given by the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_what_redis_reports() {
        // `CLUSTER KEYSLOT` of a Redis 7 server.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(key_slot("{user1000}.following"), 3443);
    }

    #[test]
    fn only_the_first_non_empty_tag_counts() {
        assert_eq!(hash_tag("wagw:{job:1}:meta"), "job:1");
        assert_eq!(hash_tag("{a}{b}"), "a");
        assert_eq!(hash_tag("{}{b}"), "{}{b}");
        assert_eq!(hash_tag("no-tag"), "no-tag");
        assert_eq!(hash_tag("open{only"), "open{only");
        assert_eq!(
            key_slot("wagw:{job:1}:meta"),
            key_slot("other:{job:1}:numbers")
        );
    }
}
