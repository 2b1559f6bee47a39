//! Fuzzes the `$batch` codec: parsing requests and responses never panics, and whatever parses
//! writes back to a body that parses to the same batch.
#![no_main]

use kontor_odata::batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line, when it looks like one, is the Content-Type; the rest is the body.
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) if data.starts_with(b"multipart/") => {
            (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..])
        }
        _ => ("multipart/mixed; boundary=batch_b".to_owned(), data),
    };
    // Boundaries for writing back must not occur in the content.
    let mut n = 0u32;
    let boundary = loop {
        let b = format!("b{n}");
        if !batch::occurs(data, b.as_bytes()) {
            break b;
        }
        n += 1;
    };
    let (outer, inner) = (format!("batch_{boundary}"), format!("changeset_{boundary}"));
    if let Ok(parsed) = batch::parse(&content_type, body) {
        let (ct, written) = batch::write_request_with(&parsed, &outer, || inner.clone());
        let again = batch::parse(&ct, &written).expect("a written batch parses");
        assert_eq!(again, parsed);
    }
    if let Ok(parsed) = batch::parse_response(&content_type, body) {
        let (ct, written) = batch::write_response_with(&parsed, &outer, || inner.clone());
        let again = batch::parse_response(&ct, &written).expect("a written response parses");
        assert_eq!(again, parsed);
    }
    let _ = batch::resolve_references(&String::from_utf8_lossy(data), |id| {
        (id.len() < 3).then(|| format!("/x({id})"))
    });
});
