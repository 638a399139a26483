//! `wasmodel build`: from an ONNX file to a pre-initialized model component.
//!
//! 1. Load the model natively with the engine crate: a model tract cannot
//!    run is refused here, naming the operator or the reason.
//! 2. Instantiate the embedded engine (a core module) under Wizer's
//!    instrumentation, copy the ONNX bytes, name and version into its
//!    memory and call `wasmodel-init`, which parses and optimizes the model.
//! 3. Snapshot the instance: its memory, with the ready model in it,
//!    becomes the data of a new module whose init export is gone.
//!
//!    Without pre-initialization ([`ComponentBuilder::preinit`]`(false)`,
//!    `--no-preinit`), `wasmodel-init` only keeps the ONNX bytes and every
//!    fresh instance parses them on first use: the way other engines start,
//!    kept so that the difference can be measured.
//! 4. Wrap that module as a component (`wit-component`) and check it
//!    against its world in `wit/`, which also validates it: `model`
//!    (imports nothing) or, for `--http`, `http-model` (`wasi:http/proxy`).
//!    For Fastly Compute, which runs core modules, the snapshot is the
//!    output, validated and checked for Fastly's ABI instead.
//!
//! All engines are built for `wasm32-unknown-unknown`: the HTTP engine's
//! imports are `wasi:http/proxy`'s own interfaces (its bindings come from
//! `wit/`), so no WASI preview-1 adapter is needed, and the Fastly
//! engine's are Fastly's hostcalls; while initializing, neither calls any
//! of them (any call would trap), so the snapshot holds nothing from this
//! host.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::{Instance, Linker, Module, Store, TypedFunc};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::runtime::{CallState, classify, set_deadline};
use crate::vector_state;
use crate::wit::{HTTP_WORLD, MODEL_WORLD, check_targets, check_world};
use crate::{Error, Limits, ModelInfo, Runtime, engine_wasm};
use wasmodel_engine::{LoadOptions, Planning, Quantized};

/// The engine's build-time entry point, removed from the output.
const INIT_EXPORT: &str = "wasmodel-init";
/// How long loading the model may take, natively and then in the engine,
/// unless changed with [`ComponentBuilder::time_limit`].
pub const DEFAULT_BUILD_TIME_LIMIT: Duration = Duration::from_secs(600);

/// A long step of a build, reported as it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildStep {
    /// Compiling the engine for this machine: tens of seconds, once per
    /// machine and wasmodel version (the result is cached).
    CompilingEngine,
}

/// The kind of component to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// Exports `wasmodel:model/predictor` and imports nothing.
    #[default]
    Predictor,
    /// Exports `wasi:http/incoming-handler` answering the Open Inference
    /// Protocol v2: the `wasi:http/proxy` world of Spin and `wasmtime serve`.
    Http,
    /// The same protocol for Fastly Compute: not a component but a core
    /// module exporting `_start` over Fastly's HTTP hostcalls (the
    /// `fastly_http_req`, `fastly_http_body` and `fastly_http_resp`
    /// modules), which Fastly and its local server Viceroy run per request.
    Fastly,
}

impl Flavour {
    /// The world in `wit/` a component of this flavour targets; none for
    /// Fastly's core module.
    fn world(self) -> Option<&'static str> {
        match self {
            Flavour::Predictor => Some(MODEL_WORLD),
            Flavour::Http => Some(HTTP_WORLD),
            Flavour::Fastly => None,
        }
    }
}

/// Builds model components from ONNX files.
#[derive(Clone)]
pub struct ComponentBuilder {
    name: String,
    version: String,
    flavour: Flavour,
    preinit: bool,
    relaxed_simd: bool,
    /// An engine module to use instead of the embedded one.
    engine: Option<Arc<[u8]>>,
    time_limit: Duration,
    options: LoadOptions,
}

impl std::fmt::Debug for ComponentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentBuilder")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("flavour", &self.flavour)
            .field("preinit", &self.preinit)
            .field("relaxed_simd", &self.relaxed_simd)
            .field("engine_bytes", &self.engine.as_ref().map(|e| e.len()))
            .field("time_limit", &self.time_limit)
            .field("options", &self.options)
            .finish()
    }
}

/// A model component and what went into it.
#[derive(Debug, Clone)]
pub struct BuiltComponent {
    /// The component's bytes, ready to write to a `.wasm` file (for
    /// [`Flavour::Fastly`], a core module's).
    pub component: Vec<u8>,
    /// The model as the engine described it.
    pub info: ModelInfo,
    /// Size of the ONNX file.
    pub onnx_size: usize,
    /// The component's imports: none for a predictor; streams and HTTP
    /// types (within `wasi:http/proxy`) for an HTTP component; Fastly's
    /// hostcalls (`module#name`) for a Fastly module.
    pub imports: Vec<String>,
    /// The component's exports.
    pub exports: Vec<String>,
    /// Time spent checking the model natively.
    pub check_time: Duration,
    /// Time spent injecting, pre-initializing and encoding.
    pub build_time: Duration,
    /// How the model is planned: for every input shape at once, or per
    /// shape on the first call with it (and the shapes planned ahead).
    pub planning: Planning,
    /// What `--quantize int8` made int8 (see
    /// [`LoadOptions::quantize_int8`]), if it was asked for.
    pub quantized: Option<Quantized>,
}

impl ComponentBuilder {
    /// A builder for a model called `name`, version `1` unless changed.
    pub fn new(name: impl Into<String>) -> ComponentBuilder {
        ComponentBuilder {
            name: name.into(),
            version: "1".into(),
            flavour: Flavour::Predictor,
            preinit: true,
            relaxed_simd: false,
            engine: None,
            time_limit: DEFAULT_BUILD_TIME_LIMIT,
            options: LoadOptions::default(),
        }
    }

    /// Input shapes to plan while building and inputs to freeze
    /// (`--input-shape`, `--input-value`; see [`LoadOptions`]). They are
    /// recorded in the component's `wasmodel-build` custom section, which
    /// `wasmodel inspect` shows.
    pub fn load_options(mut self, options: LoadOptions) -> ComponentBuilder {
        self.options = options;
        self
    }

    pub fn version(mut self, version: impl Into<String>) -> ComponentBuilder {
        self.version = version.into();
        self
    }

    /// Which kind of component to build: [`Flavour::Predictor`] unless
    /// changed.
    pub fn flavour(mut self, flavour: Flavour) -> ComponentBuilder {
        self.flavour = flavour;
        self
    }

    /// Whether the component holds the parsed and optimized model (`true`,
    /// the default), or the ONNX bytes that every fresh instance parses and
    /// optimizes on its first call (`false`: slower to start, for measuring
    /// what pre-initialization saves).
    pub fn preinit(mut self, preinit: bool) -> ComponentBuilder {
        self.preinit = preinit;
        self
    }

    /// Whether the component's matrix products use relaxed SIMD's fused
    /// multiply-add (`f32x4.relaxed_madd`): 3–8 % faster on the CNNs
    /// measured (BENCHMARKS.md), but the component then runs only on hosts
    /// with relaxed SIMD ([`RELAXED_SIMD_HOSTS`](crate::inspect::RELAXED_SIMD_HOSTS));
    /// elsewhere it fails to compile. `false` (every wasm host with SIMD)
    /// unless changed. Results can differ from the portable build's in the
    /// last bits, and from one CPU to another (with or without FMA).
    pub fn relaxed_simd(mut self, relaxed_simd: bool) -> ComponentBuilder {
        self.relaxed_simd = relaxed_simd;
        self
    }

    /// How long loading the model may take: natively, where it is checked
    /// first, and again in the engine, where it is pre-initialized (each
    /// gets the whole limit). A model that takes longer is refused with
    /// [`Error::LoadTimeout`]. Ten minutes unless changed
    /// ([`DEFAULT_BUILD_TIME_LIMIT`]). The native load cannot be
    /// interrupted: past the limit its thread is left to finish in the
    /// background (see [`load_model`](crate::load_model)).
    pub fn time_limit(mut self, limit: Duration) -> ComponentBuilder {
        self.time_limit = limit;
        self
    }

    /// Builds from this engine core module instead of the one embedded in
    /// wasmodel: `crates/guest` built for the flavour's target with other
    /// target features or optimization settings (the benchmark suite
    /// compares such builds this way). The component it makes is checked
    /// against the flavour's world like any other. It takes the place of
    /// [`relaxed_simd`](Self::relaxed_simd)'s choice.
    pub fn engine(mut self, module: impl Into<Arc<[u8]>>) -> ComponentBuilder {
        self.engine = Some(module.into());
        self
    }

    /// Checks `onnx` and builds its component.
    pub fn build(&self, runtime: &Runtime, onnx: &[u8]) -> Result<BuiltComponent, Error> {
        self.build_reporting(runtime, onnx, |_| {})
    }

    /// [`build`](Self::build), telling `report` about the long steps as
    /// they start.
    pub fn build_reporting(
        &self,
        runtime: &Runtime,
        onnx: &[u8],
        mut report: impl FnMut(BuildStep),
    ) -> Result<BuiltComponent, Error> {
        // 1. Native check: the same engine code, outside wasm.
        let started = Instant::now();
        let native = crate::load_model(
            onnx,
            &self.name,
            &self.version,
            &self.options,
            self.time_limit,
        )?;
        let (info, planning, quantized) =
            (native.info().clone(), native.planning(), native.quantized());
        drop(native);
        let check_time = started.elapsed();

        // 2. Instantiate the instrumented engine and hand it the model.
        let started = Instant::now();
        let engine = match self.engine.as_deref() {
            Some(given) => given,
            None => engine_wasm(self.flavour, self.relaxed_simd)?,
        };
        let (wizer, (cx, instrumented)) = (wizer(), instrument(engine)?);
        let module: Module =
            runtime.compile(&instrumented, || report(BuildStep::CompilingEngine))?;
        // The runtime's memory limit: the component will run under it. The
        // time limit is the build's: wasm takes a few times the native
        // time that step 1 already checked.
        let limits = Limits {
            timeout: self.time_limit,
            ..runtime.limits()
        };
        let mut store = Store::new(runtime.engine(), CallState::new(limits.max_memory));
        store.limiter(|state| state);
        set_deadline(&mut store, limits);
        let instance = build_time_linker(runtime, &module)
            .and_then(|linker| linker.instantiate(&mut store, &module))
            .map_err(|e| Error::Build(format!("instantiating the engine: {e:#}")))?;
        initialize(&mut store, &instance, onnx, self, limits)?;

        // 3. Snapshot the initialized state into a new core module.
        let snapshot = block_on(wizer.snapshot(
            &cx,
            &mut Snapshotter {
                store: &mut store,
                instance,
            },
        ))
        .map_err(|e| Error::Build(format!("snapshotting the engine: {e:#}")))?;

        // 4. Wrap as a component, check it against its world (which
        //    validates it), and list what it imports and exports. Fastly's
        //    module is the snapshot itself, checked for Fastly's ABI.
        let world = self.flavour.world();
        let mut component = match world {
            Some(_) => encode(&snapshot, self.flavour)
                .map_err(|e| Error::Build(format!("encoding the component: {e:#}")))?,
            None => snapshot,
        };
        crate::build_record::append_model(&mut component, &info);
        if !self.options.is_empty() {
            crate::build_record::append(&mut component, &self.options);
        }
        let crate::inspect::Interfaces { imports, exports } = match world {
            Some(world) => {
                let interfaces = crate::inspect::Interfaces::of(&component)?;
                check_world(&component, &interfaces.exports, world)?;
                interfaces
            }
            None => crate::fastly::check_module(&component)?,
        };

        Ok(BuiltComponent {
            component,
            info,
            onnx_size: onnx.len(),
            imports,
            exports,
            check_time,
            build_time: started.elapsed(),
            planning,
            quantized,
        })
    }
}

fn wizer() -> Wizer {
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_EXPORT);
    wizer
}

fn instrument(engine: &[u8]) -> Result<(wasmtime_wizer::ModuleContext<'_>, Vec<u8>), Error> {
    wizer()
        .instrument(engine)
        .map_err(|e| Error::Build(format!("instrumenting the engine: {e:#}")))
}

/// What the engine may call while it loads the model: nothing (the HTTP
/// engine's `wasi:http` imports trap if called).
fn build_time_linker(runtime: &Runtime, module: &Module) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(runtime.engine());
    linker.define_unknown_imports_as_traps(module)?;
    Ok(linker)
}

/// Wraps a `wasm32-wasip1` core module that exports
/// `wasi:http/incoming-handler` (such as a spin-sdk handler built with
/// cargo) as a component of the `wasi:http/proxy` world, the way
/// `wasmodel build --http` wraps its engine, and checks it against that
/// world. The benchmarks use it for their hello-world baseline.
pub fn http_component_from_module(module: &[u8]) -> Result<Vec<u8>, Error> {
    let component = encode(module, Flavour::Http)
        .map_err(|e| Error::Build(format!("encoding the component: {e:#}")))?;
    check_targets(&component, HTTP_WORLD)?;
    Ok(component)
}

/// Wraps the snapshot as a component. A `wasm32-wasip1` module's WASI
/// preview 1 calls (the hello-world baseline's, not the engines') go
/// through the proxy adapter; wit-component leaves the adapter out of a
/// component whose module imports nothing from it.
fn encode(snapshot: &[u8], flavour: Flavour) -> anyhow::Result<Vec<u8>> {
    // Not validated here: the world check that follows validates the
    // component in full (wit-component's `targets` validates a composition
    // that contains it), so validating twice would only cost time.
    let mut encoder = wit_component::ComponentEncoder::default().module(snapshot)?;
    if flavour == Flavour::Http {
        encoder = encoder.adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
        )?;
    }
    encoder.encode()
}

/// `wasmodel-init`'s arguments: pointer and length of the ONNX bytes, of the
/// name, of the version and of the load options (as text), then whether to
/// pre-initialize (1) or only keep the bytes (0).
type InitArgs = (i32, i32, i32, i32, i32, i32, i32, i32, i32);

/// Copies the model into the engine's memory and calls `wasmodel-init`.
fn initialize(
    store: &mut Store<CallState>,
    instance: &Instance,
    onnx: &[u8],
    builder: &ComponentBuilder,
    limits: Limits,
) -> Result<(), Error> {
    let fail = |what: &str, e: wasmtime::Error| Error::Build(format!("{what}: {e:#}"));
    // A call into the engine: the limits hit are said as such.
    let failed_call =
        |what: &str, e: wasmtime::Error, state: &CallState| match classify(e, state, limits) {
            Error::Timeout { seconds } => Error::LoadTimeout { seconds },
            Error::Trap(trap) => Error::Build(format!("{what}: {trap}")),
            other => other,
        };
    let realloc: TypedFunc<(i32, i32, i32, i32), i32> = instance
        .get_typed_func(&mut *store, "cabi_realloc")
        .map_err(|e| fail("the engine has no allocator export", e))?;
    let init: TypedFunc<InitArgs, i32> = instance
        .get_typed_func(&mut *store, INIT_EXPORT)
        .map_err(|e| fail("the engine has no init export", e))?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| Error::Build("the engine exports no memory".into()))?;

    let mut args = [0i32; 9];
    args[8] = i32::from(builder.preinit);
    let options = builder.options.to_text();
    for (i, bytes) in [
        onnx,
        builder.name.as_bytes(),
        builder.version.as_bytes(),
        options.as_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        let len = i32::try_from(bytes.len()).map_err(|_| {
            Error::Build(format!("{} bytes do not fit in wasm32 memory", bytes.len()))
        })?;
        let ptr = realloc
            .call(&mut *store, (0, 0, 1, len))
            .map_err(|e| failed_call("allocating in the engine", e, store.data()))?;
        memory
            .write(&mut *store, ptr as u32 as usize, bytes)
            .map_err(|e| Error::Build(format!("writing into the engine: {e}")))?;
        args[2 * i] = ptr;
        args[2 * i + 1] = len;
    }
    vector_state::clear_upper_state();
    let status = init.call(&mut *store, args.into()).map_err(|e| {
        failed_call(
            "the engine trapped while loading the model",
            e,
            store.data(),
        )
    })?;
    if status == 0 {
        return Ok(());
    }
    // A non-zero status points at a length-prefixed error message.
    let data = memory.data(&*store);
    let at = status as u32 as usize;
    let message = data
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .and_then(|len| data.get(at + 4..at + 4 + len))
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .unwrap_or_else(|| "unreadable error message".into());
    Err(Error::Build(format!(
        "the engine refused the model: {message}"
    )))
}

/// What Wizer reads from the initialized instance.
struct Snapshotter<'a> {
    store: &'a mut Store<CallState>,
    instance: Instance,
}

impl InstanceState for Snapshotter<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        // Wizer only asks for the globals its instrumentation exported.
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("Wizer's instrumentation exports every global");
        match global.get(&mut *self.store) {
            wasmtime::Val::I32(x) => SnapshotVal::I32(x),
            wasmtime::Val::I64(x) => SnapshotVal::I64(x),
            wasmtime::Val::F32(x) => SnapshotVal::F32(x),
            wasmtime::Val::F64(x) => SnapshotVal::F64(x),
            wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => unreachable!("Wizer refuses modules with reference globals, got {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("Wizer's instrumentation exports every memory");
        contents(memory.data(&*self.store));
    }
}

/// Runs a future that never waits: Wizer's snapshot is `async` so that
/// async hosts can drive it, but ours answers every query immediately.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}
