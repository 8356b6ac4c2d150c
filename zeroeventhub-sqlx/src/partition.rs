//! A stable map from entity keys to partitions.

/// The FNV-1a offset basis (64 bits).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a prime (64 bits).
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The partition of the entity `key` in a feed of `partition_count`
/// partitions: the 64-bit FNV-1a hash of the key's bytes, modulo
/// `partition_count` (`0` when `partition_count` is `0`).
///
/// Put every event of one entity (an order, a person) in the partition of
/// its key: the feed keeps order within a partition only, so the events of
/// an entity then reach consumers in the order they were appended.
///
/// The function is fixed forever: the same key and count give the same
/// partition in every process, version and platform (unlike std's
/// randomly seeded `HashMap` hasher). Any other implementation of 64-bit
/// FNV-1a gives the same results, in any language. Changing the partition
/// count moves most keys, though: choose it once, generously.
///
/// # Examples
///
/// ```
/// use zeroeventhub_sqlx::partition_for;
///
/// let partition = partition_for("person-17", 8);
/// assert!(partition < 8);
/// assert_eq!(partition, partition_for(b"person-17", 8));
/// assert_eq!(partition_for("", 8), 5); // 0xcbf29ce484222325 % 8
/// ```
pub fn partition_for(key: impl AsRef<[u8]>, partition_count: u32) -> u32 {
    let hash = fnv1a_64(key.as_ref());
    // The remainder is below `partition_count`, so it fits in a `u32`.
    hash.checked_rem(u64::from(partition_count))
        .map_or(0, |partition| partition as u32)
}

/// The 64-bit FNV-1a hash of `bytes`.
pub(crate) fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn partitions_never_change() {
        // Fixed forever: a change here moves every producer's entities.
        let expected = [
            ("", 4, 1),
            ("a", 4, 0),
            ("foobar", 4, 0),
            ("person-1", 16, 2),
            ("person-2", 16, 15),
            ("order/2024/000017", 7, 5),
            ("ünïcødé", 1000, 560),
        ];
        for (key, count, partition) in expected {
            assert_eq!(
                partition_for(key, count),
                partition,
                "key {key:?} of {count}"
            );
        }
    }

    #[test]
    fn str_and_bytes_agree() {
        assert_eq!(
            partition_for("abc", 10),
            partition_for(b"abc".as_slice(), 10)
        );
        assert_eq!(
            partition_for(String::from("abc"), 10),
            partition_for(vec![b'a', b'b', b'c'], 10)
        );
    }

    #[test]
    fn zero_or_one_partition_is_partition_zero() {
        assert_eq!(partition_for("anything", 0), 0);
        assert_eq!(partition_for("anything", 1), 0);
    }
}
