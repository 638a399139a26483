//! What `wasmodel serve` counts, for `GET /metrics` in the Prometheus text
//! exposition format (0.0.4). Names follow Triton's and KServe's: request
//! counts by outcome, latency histograms of the whole request, of the wait
//! for a free slot (queueing) and of the component's time (compute), the
//! instances in use, each request's instance memory, and the compile cache.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Latency buckets, seconds: 100 µs to 10 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Memory buckets, bytes: 1 MiB to 1 GiB.
const BYTES: &[f64] = &[
    1048576.0,
    4194304.0,
    16777216.0,
    33554432.0,
    67108864.0,
    134217728.0,
    268435456.0,
    536870912.0,
    1073741824.0,
];

/// A Prometheus histogram: cumulative bucket counts, sum and count.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus +Inf; each counts the observations at most its
    /// bound and above the previous one (made cumulative when written).
    buckets: Vec<AtomicU64>,
    /// The sum of observations, as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|&b| b < value);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// What kind of route a request was for, as the `route` label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    Infer,
    ModelMetadata,
    ModelReady,
    Server,
    Metrics,
    Other,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Infer => "infer",
            Route::ModelMetadata => "model_metadata",
            Route::ModelReady => "model_ready",
            Route::Server => "server",
            Route::Metrics => "metrics",
            Route::Other => "other",
        }
    }
}

/// The series of one model (or of the server's own routes, `model=""`).
#[derive(Debug)]
pub(crate) struct ModelMetrics {
    labels: String,
    requests: Mutex<Vec<((Route, u16), u64)>>,
    success: AtomicU64,
    failure: AtomicU64,
    request: Histogram,
    queue: Histogram,
    compute: Histogram,
    memory: Histogram,
}

impl ModelMetrics {
    fn new(model: &str, version: &str) -> ModelMetrics {
        ModelMetrics {
            labels: format!(
                "model=\"{}\",version=\"{}\"",
                escape(model),
                escape(version)
            ),
            requests: Mutex::default(),
            success: AtomicU64::new(0),
            failure: AtomicU64::new(0),
            request: Histogram::new(SECONDS),
            queue: Histogram::new(SECONDS),
            compute: Histogram::new(SECONDS),
            memory: Histogram::new(BYTES),
        }
    }

    /// A request answered: its route, status and whole duration.
    pub(crate) fn answered(&self, route: Route, status: u16, took: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            match requests.iter_mut().find(|(key, _)| *key == (route, status)) {
                Some((_, n)) => *n += 1,
                None => requests.push(((route, status), 1)),
            }
        }
        if route == Route::Infer {
            let outcome = if status < 400 {
                &self.success
            } else {
                &self.failure
            };
            outcome.fetch_add(1, Ordering::Relaxed);
        }
        self.request.observe(took.as_secs_f64());
    }

    /// How long a request waited for a free slot.
    pub(crate) fn queued(&self, took: Duration) {
        self.queue.observe(took.as_secs_f64());
    }

    /// How long the component took to answer (to its response's head).
    pub(crate) fn computed(&self, took: Duration) {
        self.compute.observe(took.as_secs_f64());
    }

    /// The linear memory a request's instance ended with.
    pub(crate) fn used_memory(&self, bytes: usize) {
        self.memory.observe(bytes as f64);
    }
}

/// Everything a server counts.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// The server's own routes first (`model=""`), then one per model.
    pub(crate) server: ModelMetrics,
    pub(crate) models: Vec<ModelMetrics>,
    pub(crate) instances_in_use: AtomicI64,
    pub(crate) connections_open: AtomicI64,
    compile_cache: [u64; 2],
}

impl Metrics {
    /// Series for each of `models` (name, version); `compile_cache` is how
    /// many components were loaded from the compile cache and compiled.
    pub(crate) fn new<'a>(
        models: impl IntoIterator<Item = (&'a str, &'a str)>,
        compile_cache: [u64; 2],
    ) -> Metrics {
        Metrics {
            server: ModelMetrics::new("", ""),
            models: models
                .into_iter()
                .map(|(name, version)| ModelMetrics::new(name, version))
                .collect(),
            instances_in_use: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            compile_cache,
        }
    }

    /// The exposition, in the text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let all = || std::iter::once(&self.server).chain(&self.models);
        let family = |name: &str, kind: &str, help: &str, out: &mut String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        family(
            "wasmodel_requests_total",
            "counter",
            "HTTP requests answered, by model, route and status.",
            &mut out,
        );
        for m in all() {
            if let Ok(requests) = m.requests.lock() {
                for ((route, status), n) in requests.iter() {
                    let _ = writeln!(
                        out,
                        "wasmodel_requests_total{{{},route=\"{}\",status=\"{status}\"}} {n}",
                        m.labels,
                        route.name()
                    );
                }
            }
        }
        for (name, help, pick) in [
            (
                "wasmodel_inference_request_success_total",
                "Inference requests answered 2xx (Triton's nv_inference_request_success).",
                (|m: &ModelMetrics| &m.success) as fn(&ModelMetrics) -> &AtomicU64,
            ),
            (
                "wasmodel_inference_request_failure_total",
                "Inference requests answered with an error (Triton's nv_inference_request_failure).",
                |m: &ModelMetrics| &m.failure,
            ),
        ] {
            family(name, "counter", help, &mut out);
            for m in &self.models {
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {}",
                    m.labels,
                    pick(m).load(Ordering::Relaxed)
                );
            }
        }
        for (name, help, pick, server_too) in [
            (
                "wasmodel_request_duration_seconds",
                "Time from a request's head to its response's head, seconds.",
                (|m: &ModelMetrics| &m.request) as fn(&ModelMetrics) -> &Histogram,
                true,
            ),
            (
                "wasmodel_queue_duration_seconds",
                "Time a request waited for a free slot (--concurrency), seconds.",
                |m: &ModelMetrics| &m.queue,
                false,
            ),
            (
                "wasmodel_compute_duration_seconds",
                "Time the component took, from a fresh instance to its response's head, seconds.",
                |m: &ModelMetrics| &m.compute,
                false,
            ),
            (
                "wasmodel_instance_memory_bytes",
                "Linear memory a request's instance ended with, bytes.",
                |m: &ModelMetrics| &m.memory,
                false,
            ),
        ] {
            family(name, "histogram", help, &mut out);
            for m in all().filter(|m| server_too || !std::ptr::eq(*m, &self.server)) {
                pick(m).write(&mut out, name, &m.labels);
            }
        }
        for (name, help, gauge) in [
            (
                "wasmodel_instances_in_use",
                "Component instances running a request now.",
                &self.instances_in_use,
            ),
            (
                "wasmodel_connections_open",
                "Client connections open now (at most --max-connections).",
                &self.connections_open,
            ),
        ] {
            family(name, "gauge", help, &mut out);
            let _ = writeln!(out, "{name} {}", gauge.load(Ordering::Relaxed));
        }
        for (i, (name, help)) in [
            (
                "wasmodel_compile_cache_hits_total",
                "Components loaded compiled from the compile cache at start.",
            ),
            (
                "wasmodel_compile_cache_misses_total",
                "Components compiled at start (not in the compile cache).",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            family(name, "counter", help, &mut out);
            let _ = writeln!(out, "{name} {}", self.compile_cache[i]);
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_everything() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.write(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"1\"} 2"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"2\"} 3"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 4"), "{out}");
        assert!(out.contains("x_sum{a=\"b\"} 6"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 4"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
