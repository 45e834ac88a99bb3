//! Read-modify-write under Compute Engine's fingerprints.
//!
//! An update of an instance's interface (and of a backend service, a URL map, a
//! subnetwork) carries the `fingerprint` read with the resource; when someone changed the
//! resource in between, the cloud answers 412 `conditionNotMet` and changes nothing. Then the
//! resource is read again, the change decided again on the fresh state (it may be done
//! already, or need another free range), and written again, a bounded number of times.
//!
//! ```text
//!  read ─> modify(state) ─ Done(answer) ────────────────────────────> answer
//!                        └ Write(change, answer) ─> write ─ ok ─────> answer
//!                                                          └ 412 ─> read again (bounded)
//! ```

use std::future::Future;

use cloudnet_core::{Error, Result};

/// What to do with the state just read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<C, A> {
    /// Nothing to write: the state already is what the caller wants.
    Done(A),
    /// Write `C` (carrying the fingerprint read with the state); answer `A` when it lands.
    Write(C, A),
}

/// The answer of a read-modify-write and how many stale writes it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<A> {
    pub answer: A,
    /// Writes refused as stale before one landed (or the state turned out done).
    pub conflicts: u32,
    /// True when a write landed; false when the state already was as wanted.
    pub wrote: bool,
}

/// True when the cloud refused a write for a stale fingerprint.
pub fn is_stale(err: &Error) -> bool {
    matches!(err, Error::Conflict { code, .. } if code == "conditionNotMet" || code == "fingerprintMismatch")
}

/// Reads, decides and writes, again from the read on a stale fingerprint, at most
/// `attempts` writes in all. The last stale error is the answer when every attempt was
/// stale; any other error ends it at once.
pub async fn read_modify_write<S, C, A, R, RFut, W, WFut>(
    attempts: u32,
    mut read: R,
    mut modify: impl FnMut(S) -> Result<Step<C, A>>,
    mut write: W,
) -> Result<Written<A>>
where
    R: FnMut() -> RFut,
    RFut: Future<Output = Result<S>>,
    W: FnMut(C) -> WFut,
    WFut: Future<Output = Result<()>>,
{
    let mut conflicts = 0u32;
    loop {
        let state = read().await?;
        let (change, answer) = match modify(state)? {
            Step::Done(answer) => {
                return Ok(Written {
                    answer,
                    conflicts,
                    wrote: false,
                });
            }
            Step::Write(change, answer) => (change, answer),
        };
        match write(change).await {
            Ok(()) => {
                return Ok(Written {
                    answer,
                    conflicts,
                    wrote: true,
                });
            }
            Err(e) if is_stale(&e) && conflicts + 1 < attempts.max(1) => {
                conflicts += 1;
                tracing::debug!(conflicts, "Stale fingerprint, reading again");
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use cloudnet_core::ErrorKind;

    use super::*;

    fn stale() -> Error {
        Error::from_gcp("conditionNotMet", 412, "fingerprint", None)
    }

    #[tokio::test]
    async fn a_stale_write_is_read_and_decided_again() {
        let version = Cell::new(0u32);
        let writes = Cell::new(0u32);
        let out = read_modify_write(
            3,
            || async { Ok(version.get()) },
            |v| Ok(Step::Write(v, v * 10)),
            |v| {
                writes.set(writes.get() + 1);
                // Someone else wrote between the first read and write.
                let current = version.get();
                if v == 0 {
                    version.set(1);
                }
                async move {
                    if v == current && v > 0 {
                        Ok(())
                    } else {
                        Err(stale())
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            Written {
                answer: 10,
                conflicts: 1,
                wrote: true
            }
        );
        assert_eq!(writes.get(), 2);
    }

    #[tokio::test]
    async fn done_state_writes_nothing() {
        let out = read_modify_write(
            3,
            || async { Ok(5u32) },
            |v| Ok(Step::<(), _>::Done(v)),
            |_| async { panic!("no write") },
        )
        .await
        .unwrap();
        assert_eq!((out.answer, out.wrote, out.conflicts), (5, false, 0));
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_other_errors_end_it() {
        let writes = Cell::new(0u32);
        let e = read_modify_write(
            3,
            || async { Ok(()) },
            |_| Ok(Step::Write((), ())),
            |_| {
                writes.set(writes.get() + 1);
                async { Err(stale()) }
            },
        )
        .await
        .unwrap_err();
        assert!(is_stale(&e));
        assert_eq!(writes.get(), 3);

        writes.set(0);
        let e = read_modify_write(
            3,
            || async { Ok(()) },
            |_| Ok(Step::Write((), ())),
            |_| {
                writes.set(writes.get() + 1);
                async { Err(Error::from_gcp("invalid", 400, "bad range", None)) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(writes.get(), 1);
    }
}
