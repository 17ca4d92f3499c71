//! How a room's members are counted in words (the info panel lists them; see
//! [`room_info`](crate::room_info)).

/// "3 members, 1 online".
pub fn count_text(members: usize, online: usize) -> String {
    let noun = if members == 1 { "member" } else { "members" };
    format!("{members} {noun}, {online} online")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count_text(1, 1), "1 member, 1 online");
        assert_eq!(count_text(3, 0), "3 members, 0 online");
    }
}
