//! Plain-text renderings of timeline items for applications: the body of a message, or a
//! sentence for a notice ("alice removed bob"), as chat apps show service messages.

use chat_proto::{Content, Message, Notice, Role, UserInfo, Visibility};

/// What an item says, on one or more lines: the text of a message, or a sentence for a
/// notice.
pub fn item_text(message: &Message) -> String {
    match &message.content {
        Content::Text { body } => body.as_str().to_owned(),
        Content::Notice { notice } => notice_text(&message.sender, notice),
        Content::Mls { .. } => "(encrypted message)".to_owned(),
        Content::MlsCommit { .. } => "(encryption keys changed)".to_owned(),
        _ => "(an item this version cannot show)".to_owned(),
    }
}

/// A sentence for a notice made by `by`.
pub fn notice_text(by: &UserInfo, notice: &Notice) -> String {
    let by = by.username.as_str();
    match notice {
        Notice::Created { name, visibility } => {
            let kind = match visibility {
                Visibility::Private => "private",
                Visibility::Public => "public",
            };
            format!("{by} created the {kind} room \u{201c}{name}\u{201d}")
        }
        Notice::Joined { user } => format!("{} joined", user.username),
        Notice::Left { user } => format!("{} left", user.username),
        Notice::Invited { user } => format!("{by} invited {}", user.username),
        Notice::Declined { user } => format!("{} declined the invitation", user.username),
        Notice::Removed { user } => format!("{by} removed {}", user.username),
        Notice::Banned { user } => format!("{by} banned {}", user.username),
        Notice::Unbanned { user } => format!("{by} lifted the ban on {}", user.username),
        Notice::RoleChanged { user, role } => {
            let role = match role {
                Role::Owner => "the owner",
                Role::Admin => "an admin",
                Role::Member => "a member",
            };
            format!("{} is now {role}", user.username)
        }
        Notice::RoomUpdated { name, topic } => match (name, topic) {
            (Some(name), Some(topic)) if topic.is_empty() => {
                format!("{by} renamed the room to \u{201c}{name}\u{201d} and cleared the topic")
            }
            (Some(name), Some(topic)) => {
                format!(
                    "{by} renamed the room to \u{201c}{name}\u{201d} and set the topic to \u{201c}{}\u{201d}",
                    topic.as_str()
                )
            }
            (Some(name), None) => format!("{by} renamed the room to \u{201c}{name}\u{201d}"),
            (None, Some(topic)) if topic.is_empty() => format!("{by} cleared the topic"),
            (None, Some(topic)) => format!("{by} set the topic to \u{201c}{}\u{201d}", topic.as_str()),
            (None, None) => format!("{by} changed the room"),
        },
        _ => format!("{by} changed the room"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{UserId, Username};

    fn user(id: u64, name: &str) -> UserInfo {
        UserInfo {
            id: UserId::new(id).unwrap(),
            username: Username::parse(name).unwrap(),
        }
    }

    #[test]
    fn notices_read_as_sentences() {
        let (alice, bob) = (user(1, "alice"), user(2, "bob"));
        assert_eq!(
            notice_text(&alice, &Notice::Removed { user: bob.clone() }),
            "alice removed bob"
        );
        assert_eq!(
            notice_text(
                &alice,
                &Notice::RoleChanged {
                    user: bob.clone(),
                    role: Role::Admin
                }
            ),
            "bob is now an admin"
        );
        assert_eq!(
            notice_text(&bob, &Notice::Joined { user: bob.clone() }),
            "bob joined"
        );
    }
}
