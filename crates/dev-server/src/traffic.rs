//! The `/api` traffic the server keeps: the injected faults and delays still to
//! apply, and the request log. The middleware that applies and records them is
//! `routes::traffic`.

use crate::views::{FaultSpec, FaultView, RequestRecord};

#[derive(Debug, Clone)]
struct Fault {
    id: u64,
    spec: FaultSpec,
    remaining: Option<u32>,
    hits: u64,
}

/// Faults and the request log.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    faults: Vec<Fault>,
    next_fault_id: u64,
    requests: Vec<RequestRecord>,
    next_request_seq: u64,
    request_limit: usize,
}

impl Traffic {
    pub(crate) fn new(request_limit: usize) -> Self {
        Self {
            request_limit,
            ..Self::default()
        }
    }

    pub(crate) fn add_fault(&mut self, spec: FaultSpec) -> FaultView {
        self.next_fault_id += 1;
        let remaining = match spec.times {
            None => Some(1),
            Some(0) => None,
            Some(times) => Some(times),
        };
        let fault = Fault {
            id: self.next_fault_id,
            spec,
            remaining,
            hits: 0,
        };
        let view = fault_view(&fault);
        self.faults.push(fault);
        view
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn faults(&self) -> Vec<FaultView> {
        self.faults.iter().map(fault_view).collect()
    }

    /// The first matching fault that is not used up; one use is taken. Used-up
    /// faults stay listed (with `remaining: Some(0)`) until cleared.
    pub(crate) fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultSpec> {
        let fault = self.faults.iter_mut().find(|f| {
            f.remaining != Some(0)
                && f.spec
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.contains(&f.spec.path_contains)
        })?;
        fault.hits += 1;
        if let Some(remaining) = &mut fault.remaining {
            *remaining -= 1;
        }
        Some(fault.spec.clone())
    }

    pub(crate) fn reserve_seq(&mut self) -> u64 {
        self.next_request_seq += 1;
        self.next_request_seq
    }

    pub(crate) fn log(&mut self, record: RequestRecord) {
        // Keep the log in arrival order even when a slow request finishes late.
        let at = self.requests.partition_point(|r| r.seq < record.seq);
        self.requests.insert(at, record);
        if self.requests.len() > self.request_limit {
            let excess = self.requests.len() - self.request_limit;
            self.requests.drain(..excess);
        }
    }

    pub(crate) fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    pub(crate) fn request_count(&self) -> u64 {
        self.next_request_seq
    }

    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
    }
}

fn fault_view(fault: &Fault) -> FaultView {
    FaultView {
        id: fault.id,
        spec: fault.spec.clone(),
        remaining: fault.remaining,
        hits: fault.hits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, times: Option<u32>) -> FaultSpec {
        FaultSpec {
            path_contains: path.into(),
            status: Some(500),
            times,
            ..FaultSpec::default()
        }
    }

    #[test]
    fn faults_apply_the_given_number_of_times() {
        let mut traffic = Traffic::new(10);
        traffic.add_fault(spec("/heartbeat", Some(2)));
        assert!(traffic.take_fault("POST", "/api/daemon/register").is_none());
        assert!(
            traffic
                .take_fault("POST", "/api/daemon/heartbeat")
                .is_some()
        );
        assert!(
            traffic
                .take_fault("POST", "/api/daemon/heartbeat")
                .is_some()
        );
        assert!(
            traffic
                .take_fault("POST", "/api/daemon/heartbeat")
                .is_none()
        );

        traffic.add_fault(spec("", Some(0)));
        for _ in 0..5 {
            assert!(traffic.take_fault("GET", "/api/anything").is_some());
        }
        assert_eq!(traffic.faults()[1].hits, 5);
        traffic.clear_faults();
        assert!(traffic.take_fault("GET", "/api/anything").is_none());
    }

    #[test]
    fn method_filter_is_case_insensitive() {
        let mut traffic = Traffic::new(10);
        traffic.add_fault(FaultSpec {
            method: Some("post".into()),
            ..spec("/claim", None)
        });
        assert!(traffic.take_fault("GET", "/api/x/claim").is_none());
        assert!(traffic.take_fault("POST", "/api/x/claim").is_some());
    }

    #[test]
    fn log_keeps_arrival_order_and_limit() {
        let mut traffic = Traffic::new(2);
        let record = |seq| RequestRecord {
            seq,
            method: "GET".into(),
            path: "/api".into(),
            query: None,
            status: 200,
            fault: false,
            body: None,
            received_at: String::new(),
        };
        traffic.log(record(2));
        traffic.log(record(1));
        traffic.log(record(3));
        let seqs: Vec<u64> = traffic.requests().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
    }
}
