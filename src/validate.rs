//! The contract's rules for names, passwords and texts, shared by the REST
//! API, the WebSocket and the command line.

/// Usernames: 3 to 32 characters of `A-Z a-z 0-9 _ . -`.
pub fn username(name: &str) -> Result<(), String> {
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err("username must be 3 to 32 characters of A-Z a-z 0-9 _ . -".into())
    }
}

/// Passwords: 8 to 1024 bytes.
pub fn password(pw: &str) -> Result<(), String> {
    if (8..=1024).contains(&pw.len()) {
        Ok(())
    } else {
        Err("password must be 8 to 1024 bytes".into())
    }
}

/// Room names: 1 to 64 characters after trimming. Returns the trimmed name.
pub fn room_name(name: &str) -> Result<&str, String> {
    no_nul(name, "room name")?;
    let t = name.trim();
    if (1..=64).contains(&t.chars().count()) {
        Ok(t)
    } else {
        Err("room name must be 1 to 64 characters".into())
    }
}

/// Room descriptions: at most 512 characters.
pub fn description(d: &str) -> Result<(), String> {
    no_nul(d, "description")?;
    if d.chars().count() <= 512 {
        Ok(())
    } else {
        Err("description must be at most 512 characters".into())
    }
}

/// Most characters in one message.
pub const MESSAGE_MAX_CHARS: usize = 4000;

/// Messages: 1 to 4000 characters, not only whitespace.
pub fn message(text: &str) -> Result<(), String> {
    no_nul(text, "message")?;
    if text.trim().is_empty() {
        return Err("message must not be empty or only whitespace".into());
    }
    if text.chars().count() > MESSAGE_MAX_CHARS {
        return Err(format!(
            "message must be at most {MESSAGE_MAX_CHARS} characters"
        ));
    }
    Ok(())
}

/// A message's text: [`message`]'s rules, except that a message with
/// attachments may have none.
pub fn message_text(text: &str, attached: bool) -> Result<(), String> {
    no_nul(text, "message")?;
    if attached && text.trim().is_empty() {
        return Ok(());
    }
    message(text)
}

/// Refuses the NUL character (U+0000) in text that is stored: it is no
/// one's text, and PostgreSQL's text cannot hold it, so a cluster's store
/// would fail the whole batch it came in.
fn no_nul(text: &str, what: &str) -> Result<(), String> {
    match text.contains('\0') {
        true => Err(format!(
            "{what} must not contain the NUL character (U+0000)"
        )),
        false => Ok(()),
    }
}

/// Most characters in a `sendMessage`'s `clientId`.
pub const CLIENT_ID_MAX_CHARS: usize = 64;

/// A `sendMessage`'s `clientId`: 1 to 64 characters, no control
/// characters (it is a key the client chose, kept for a day).
pub fn client_id(id: &str) -> Result<(), String> {
    let n = id.chars().count();
    if n == 0 || n > CLIENT_ID_MAX_CHARS || id.chars().any(char::is_control) {
        return Err(format!(
            "clientId must be 1 to {CLIENT_ID_MAX_CHARS} characters, without control characters"
        ));
    }
    Ok(())
}

/// Most characters in one reaction: room for any emoji sequence (a
/// family emoji is 7 to 11) or a short word such as `+1` or `lgtm`.
pub const REACTION_MAX_CHARS: usize = 32;

/// Reactions: one emoji or a short token, 1 to 32 characters, with no
/// whitespace and no control characters (a reaction is a label to show,
/// not a text to lay out).
pub fn reaction(emoji: &str) -> Result<(), String> {
    let n = emoji.chars().count();
    if n == 0 || n > REACTION_MAX_CHARS {
        return Err(format!(
            "a reaction must be 1 to {REACTION_MAX_CHARS} characters"
        ));
    }
    if emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a reaction must not hold whitespace or control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_never_holds_a_nul() {
        assert!(message("a\0b").is_err());
        assert!(message_text("\0", true).is_err());
        assert!(room_name("\0").is_err());
        assert!(description("x\0").is_err());
        assert!(message("a\u{1}b").is_ok(), "other control characters stay");
    }

    #[test]
    fn usernames() {
        assert!(username("ab").is_err());
        assert!(username("abc").is_ok());
        assert!(username(&"a".repeat(32)).is_ok());
        assert!(username(&"a".repeat(33)).is_err());
        assert!(username("a b c").is_err());
        assert!(username("émile").is_err());
        assert!(username("A_b.c-9").is_ok());
    }

    #[test]
    fn passwords_count_bytes() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password("éééé").is_ok(), "4 characters but 8 bytes");
        assert!(password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn texts_count_characters() {
        assert_eq!(room_name("  hi  "), Ok("hi"));
        assert!(room_name("   ").is_err());
        assert!(room_name(&"é".repeat(64)).is_ok());
        assert!(room_name(&"é".repeat(65)).is_err());
        assert!(description(&"é".repeat(512)).is_ok());
        assert!(description(&"é".repeat(513)).is_err());
        assert!(message(" \n\t ").is_err());
        assert!(message(&"é".repeat(4000)).is_ok());
        assert!(message(&"é".repeat(4001)).is_err());
    }

    #[test]
    fn reactions_are_short_tokens() {
        for ok in ["👍", "👍🏽", "👨‍👩‍👧‍👦", "+1", "lgtm", &"é".repeat(32)]
        {
            assert!(reaction(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "tab\t",
            "nl\n",
            "\u{a0}",
            "nul\0",
            &"é".repeat(33),
        ] {
            assert!(reaction(bad).is_err(), "{bad:?}");
        }
    }
}
