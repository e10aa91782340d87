//! NxCloud request signature ("API Interface Invocation Convention").

use md5::{Digest, Md5};

/// `md5(k=v&... sorted by name + "&body=" + body + "&accessSecret=" + secret)` as lowercase hex.
/// The `&body=` part is left out for an empty body. `body` must be byte-for-byte what is sent.
pub(super) fn sign(headers: &[(&str, &str)], body: &[u8], secret: &str) -> String {
    let mut sorted: Vec<&(&str, &str)> = headers.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut md5 = Md5::new();
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            md5.update(b"&");
        }
        md5.update(k.as_bytes());
        md5.update(b"=");
        md5.update(v.as_bytes());
    }
    if !body.is_empty() {
        md5.update(b"&body=");
        md5.update(body);
    }
    md5.update(b"&accessSecret=");
    md5.update(secret.as_bytes());
    hex::encode(md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: [(&str, &str); 4] = [
        ("accessKey", "fme2na3kdi3ki"),
        ("ts", "1655710885431"),
        ("bizType", "2"),
        ("action", "getPhone"),
    ];

    #[test]
    fn published_test_vector_with_body() {
        let body = br#"{"appkey":"jh42xxxd434","business_phones":"185xxx99,861xxx24","messaging_product":"whatsapp"}"#;
        assert_eq!(
            sign(&HEADERS, body, "s3cr3t"),
            "e17ff20c181caf3d2060b4838975e9f7"
        );
    }

    #[test]
    fn published_test_vector_without_body() {
        assert_eq!(
            sign(&HEADERS, b"", "s3cr3t"),
            "017d605d011056ea80ad45b4bf96adc3"
        );
    }

    #[test]
    fn header_order_does_not_matter_but_body_bytes_do() {
        let mut reversed = HEADERS;
        reversed.reverse();
        assert_eq!(
            sign(&reversed, b"", "s3cr3t"),
            sign(&HEADERS, b"", "s3cr3t")
        );
        assert_ne!(
            sign(&HEADERS, b"{}", "s3cr3t"),
            sign(&HEADERS, b"{ }", "s3cr3t")
        );
    }
}
