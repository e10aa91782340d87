//! A small `multipart/form-data` reader: enough for ekycpro's `user_id` field and `file` upload.

/// One form field or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// `name="x"` from a Content-Disposition header value.
fn disposition_param(value: &str, key: &str) -> Option<String> {
    value.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary =
        boundary(content_type).ok_or("Content-Type must be multipart/form-data with a boundary")?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut pos =
        find(body, &delimiter, 0).ok_or("multipart body has no boundary")? + delimiter.len();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        let head_start = find(body, b"\r\n", pos).ok_or("truncated multipart body")? + 2;
        let head_end =
            find(body, b"\r\n\r\n", head_start).ok_or("multipart part without headers")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let data_start = head_end + 4;
        let mut next_delim = delimiter.clone();
        next_delim.splice(0..0, *b"\r\n");
        let data_end =
            find(body, &next_delim, data_start).ok_or("multipart part is not terminated")?;
        let disposition = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then(|| v.to_owned())
            })
            .ok_or("multipart part without Content-Disposition")?;
        parts.push(Part {
            name: disposition_param(&disposition, "name").ok_or("multipart part without a name")?,
            filename: disposition_param(&disposition, "filename"),
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + next_delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\ntest\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"input.txt\"\r\nContent-Type: text/plain\r\n\r\n+41798284651\n+14155550123\n\r\n--XyZ--\r\n";
        let parts = parse("multipart/form-data; boundary=XyZ", body).expect("valid");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "user_id");
        assert_eq!(parts[0].data, b"test");
        assert_eq!(parts[1].filename.as_deref(), Some("input.txt"));
        assert_eq!(parts[1].data, b"+41798284651\n+14155550123\n");
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(parse("application/json", b"{}").is_err());
        assert!(parse("multipart/form-data; boundary=a", b"--a\r\nno end").is_err());
        assert!(parse("multipart/form-data; boundary=a", b"--a").is_err());
        assert!(parse("multipart/form-data; boundary=a", b"nothing").is_err());
    }
}
