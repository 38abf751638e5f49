//! A file attached to a message, as the message object lists it.

use serde::{Deserialize, Serialize};

use super::FileId;

/// A file attached to a message, as the message object lists it. Kept
/// with the message itself (a file never changes once attached), so that
/// serving history needs no lookup per file. `url` and `thumbnailUrl` are
/// derived from the id on the wire and ignored when read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "AttachmentWire", into = "AttachmentWire")]
pub struct Attachment {
    pub id: FileId,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Whether the file has a thumbnail (served at `thumbnailUrl`).
    pub thumbnail: bool,
}

/// [`Attachment`] as the wire spells it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentWire {
    id: FileId,
    name: String,
    size: u64,
    #[serde(rename = "type")]
    content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(default)]
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
}

impl From<AttachmentWire> for Attachment {
    fn from(w: AttachmentWire) -> Attachment {
        Attachment {
            id: w.id,
            name: w.name,
            size: w.size,
            content_type: w.content_type,
            width: w.width,
            height: w.height,
            thumbnail: w.thumbnail_url.is_some(),
        }
    }
}

impl From<Attachment> for AttachmentWire {
    fn from(a: Attachment) -> AttachmentWire {
        AttachmentWire {
            url: format!("/api/files/{}", a.id),
            thumbnail_url: a
                .thumbnail
                .then(|| format!("/api/files/{}/thumbnail", a.id)),
            id: a.id,
            name: a.name,
            size: a.size,
            content_type: a.content_type,
            width: a.width,
            height: a.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_carry_their_urls_and_read_back_without_them() {
        let a = Attachment {
            id: FileId(0xab),
            name: "p.png".into(),
            size: 3,
            content_type: "image/png".into(),
            width: Some(4),
            height: Some(2),
            thumbnail: true,
        };
        let v = serde_json::to_value(&a).expect("json");
        assert_eq!(v["url"], "/api/files/00000000000000ab");
        assert_eq!(v["thumbnailUrl"], "/api/files/00000000000000ab/thumbnail");
        assert_eq!(v["type"], "image/png");
        assert_eq!(serde_json::from_value::<Attachment>(v).expect("back"), a);
        let plain = Attachment {
            width: None,
            height: None,
            thumbnail: false,
            ..a
        };
        let v = serde_json::to_value(&plain).expect("json");
        assert!(v.get("thumbnailUrl").is_none() && v.get("width").is_none());
    }
}
