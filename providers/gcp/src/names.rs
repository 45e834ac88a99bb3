//! Compute Engine resource names and URLs.

/// The last path segment of a URL or a relative resource path (`.../zones/us-central1-a`
/// -> `us-central1-a`).
pub fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_segments() {
        assert_eq!(
            last_segment("https://h/compute/v1/projects/p/zones/z-a"),
            "z-a"
        );
        assert_eq!(last_segment("plain"), "plain");
    }
}
