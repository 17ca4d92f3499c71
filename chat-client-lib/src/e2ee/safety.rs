//! Safety numbers: 60 digits two people compare to be sure that only their real devices
//! are in their chats. Each person's half (30 digits) comes from their user id and the
//! public signature keys of all their devices, hashed many times (so finding other keys
//! with the same digits is costly); the halves are ordered by user id, so both people see
//! the same number. Adding or removing a device changes it.

use chat_proto::UserId;
use sha2::{Digest, Sha512};

/// Version of the computation, hashed in (a change would give new digits).
const VERSION: &[u8] = b"chat safety number v1";
/// Rounds of SHA-512 per half.
const ROUNDS: usize = 5_200;

/// The safety number of two users, each with the public signature keys of their devices:
/// 60 digits in 12 groups of 5, separated by spaces.
pub fn safety_number(a: UserId, a_keys: &[Vec<u8>], b: UserId, b_keys: &[Vec<u8>]) -> String {
    let (first, second) = if a <= b {
        (half(a, a_keys), half(b, b_keys))
    } else {
        (half(b, b_keys), half(a, a_keys))
    };
    first
        .into_iter()
        .chain(second)
        .map(|group| format!("{group:05}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One person's six groups of five digits.
fn half(user: UserId, keys: &[Vec<u8>]) -> Vec<u64> {
    let mut keys: Vec<&Vec<u8>> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    let mut input = VERSION.to_vec();
    input.extend_from_slice(&user.get().to_be_bytes());
    for key in keys {
        input.extend_from_slice(&(key.len() as u32).to_be_bytes());
        input.extend_from_slice(key);
    }
    let mut hash = Sha512::digest(&input).to_vec();
    for _ in 0..ROUNDS {
        let mut hasher = Sha512::new();
        hasher.update(&hash);
        hasher.update(&input);
        hash = hasher.finalize().to_vec();
    }
    hash[..30]
        .chunks(5)
        .map(|chunk| chunk.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)) % 100_000)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64) -> UserId {
        UserId::new(id).unwrap()
    }

    #[test]
    fn both_sides_see_the_same_sixty_digits_and_a_device_change_shows() {
        let (alice, bob) = (user(1), user(2));
        let alice_keys = vec![vec![1u8; 32], vec![2u8; 32]];
        let bob_keys = vec![vec![3u8; 32]];
        let seen_by_alice = safety_number(alice, &alice_keys, bob, &bob_keys);
        let seen_by_bob = safety_number(bob, &bob_keys, alice, &alice_keys);
        assert_eq!(seen_by_alice, seen_by_bob);
        let groups: Vec<&str> = seen_by_alice.split(' ').collect();
        assert_eq!(groups.len(), 12);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
        );
        let reordered = vec![vec![2u8; 32], vec![1u8; 32]];
        assert_eq!(safety_number(alice, &reordered, bob, &bob_keys), seen_by_alice);
        let new_device = vec![vec![3u8; 32], vec![4u8; 32]];
        assert_ne!(safety_number(alice, &alice_keys, bob, &new_device), seen_by_alice);
    }
}
