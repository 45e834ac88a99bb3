//! Reading a raw HTTP/1.1 response, for the tests' hand-written clients.

/// The status code and the headers (names lowercased) of a response's `head`, the part
/// before the blank line; status 0 when the status line cannot be read.
pub fn parse_head<H: FromIterator<(String, String)>>(head: &str) -> (u16, H) {
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}
