//! `multipart/form-data` bodies (RFC 7578), as a browser sends a form with a file: the parts'
//! names, file names and bytes. Just enough for the pages' uploads (the body is already read,
//! within the guard's limit); a body that is not well formed is `None`.

/// One part of a form.
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// The boundary of a `multipart/form-data` content type (`None`: another type).
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';').map(str::trim);
    if !params.next()?.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// A quoted or bare parameter `key` of a `Content-Disposition` header value.
fn param(value: &str, key: &str) -> Option<String> {
    value.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of `body`.
pub fn parts(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    if boundary.is_empty() {
        return None;
    }
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut at = find(body, &delimiter, 0)? + delimiter.len();
    let mut out = Vec::new();
    loop {
        match body.get(at..at + 2)? {
            b"--" => return Some(out),
            b"\r\n" => at += 2,
            _ => return None,
        }
        let head_end = find(body, b"\r\n\r\n", at)?;
        let head = std::str::from_utf8(&body[at..head_end]).ok()?;
        let disposition = head.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-disposition").then(|| v.trim().to_owned())
        })?;
        let data_start = head_end + 4;
        let data_end = find(body, &next_delimiter, data_start)?;
        out.push(Part {
            name: param(&disposition, "name")?,
            filename: param(&disposition, "filename"),
            data: body[data_start..data_end].to_vec(),
        });
        at = data_end + next_delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_form_with_a_file_reads_as_its_parts_and_a_broken_one_as_none() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nt0k\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":\r\n1}\r\n--XyZ--\r\n";
        let got = parts(body, "XyZ").unwrap();
        let got: Vec<(&str, Option<&str>, &[u8])> = got
            .iter()
            .map(|p| (p.name.as_str(), p.filename.as_deref(), p.data.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![("csrf", None, &b"t0k"[..]), ("file", Some("m.json"), &b"{\"a\":\r\n1}"[..])]
        );
        let cases: [(&[u8], &str); 4] = [
            (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "XyZ"),
            (b"no boundary at all", "XyZ"),
            (b"--XyZ\r\nX-Other: 1\r\n\r\nv\r\n--XyZ--", "XyZ"),
            (b"--XyZ--", ""),
        ];
        for (body, boundary) in cases {
            assert!(parts(body, boundary).is_none(), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(boundary("multipart/form-data; boundary=\"ab c\"").as_deref(), Some("ab c"));
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }
}
