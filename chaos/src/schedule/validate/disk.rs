//! A kill's disk faults: `lose_unfsynced: true`, `corrupt: { file, bitflip }`,
//! `truncate: { file, bytes }` (see [`crate::disk`]). Only a `kill:` entry may carry them:
//! they act on the stopped node's files, between the kill and the restart.

use serde_saphyr::{Location, Spanned};

use super::super::raw::RawFault;
use super::super::{FaultChoice, FaultKind};
use super::{Result, Validator, quoted};
use crate::disk::damage::check_pattern;
use crate::disk::{Corrupt, DiskFaults, Probability, Truncate};

impl Validator<'_> {
    pub(super) fn disk_faults(&self, fault: &RawFault, choice: &FaultChoice) -> Result<DiskFaults> {
        let keys: [(&str, Option<Location>); 3] = [
            (
                "lose_unfsynced",
                fault.lose_unfsynced.as_ref().map(|v| v.referenced),
            ),
            ("corrupt", fault.corrupt.as_ref().map(|v| v.referenced)),
            ("truncate", fault.truncate.as_ref().map(|v| v.referenced)),
        ];
        let is_kill = matches!(
            choice,
            FaultChoice::Process {
                kind: FaultKind::Kill,
                ..
            }
        );
        for (key, location) in keys {
            if let Some(location) = location
                && !is_kill
            {
                return Err(self.error(
                    location,
                    format!(
                        "expected `{key}` only with `kill:` (it acts on the stopped node's files, between the kill and the restart), found `{key}`"
                    ),
                ));
            }
        }
        let corrupt = match &fault.corrupt {
            None => None,
            Some(raw) => {
                let bitflip = &raw.value.bitflip;
                if !(bitflip.value > 0.0 && bitflip.value <= 1.0) {
                    return Err(self.error(
                        bitflip.referenced,
                        format!(
                            "expected `bitflip` as a probability in (0, 1] such as 1e-6, found {}",
                            quoted(&bitflip.value.to_string())
                        ),
                    ));
                }
                Some(Corrupt {
                    file: self.file_pattern(&raw.value.file)?,
                    bitflip: Probability(bitflip.value),
                })
            }
        };
        let truncate = match &fault.truncate {
            None => None,
            Some(raw) => {
                let bytes = &raw.value.bytes;
                if bytes.value == 0 {
                    return Err(self.error(
                        bytes.referenced,
                        "expected `bytes` as a whole number of bytes to cut, at least 1, found `0`"
                            .into(),
                    ));
                }
                Some(Truncate {
                    file: self.file_pattern(&raw.value.file)?,
                    bytes: bytes.value,
                })
            }
        };
        Ok(DiskFaults {
            lose_unfsynced: fault.lose_unfsynced.as_ref().is_some_and(|v| v.value),
            corrupt,
            truncate,
        })
    }

    fn file_pattern(&self, file: &Spanned<String>) -> Result<String> {
        check_pattern(&file.value)
            .map(|()| file.value.clone())
            .map_err(|expected| self.error(file.referenced, format!("expected {expected}")))
    }
}
