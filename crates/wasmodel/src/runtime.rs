//! Loading model components and calling them on wasmtime.
//!
//! One [`Runtime`] holds one wasmtime `Engine` and the compile cache. Each
//! loaded component is pre-instantiated once (`InstancePre`); every
//! [`LoadedModel::predict`] gets a fresh `Store` with its own memory and time
//! limits, so a trap or a runaway call costs that call only and the host
//! keeps serving. [`ModelInstance`] keeps one instance for several calls.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};

use crate::bindings::{self, ModelPre};
use crate::function_cache::FunctionCache;
use crate::vector_state;
use crate::wit::PREDICTOR_INTERFACE;
use crate::{CompileCache, Error, InputError, InputErrorKind, ModelInfo, PredictError, Tensor};

/// How often the epoch advances; time limits are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Resource limits applied to every call into a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory an instance may have, in bytes.
    pub max_memory: usize,
    /// Largest input tensor accepted, in bytes of element data.
    pub max_input_bytes: usize,
    /// Longest a call may run before it is interrupted.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 1 << 30,
            max_input_bytes: 64 << 20,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Which of wasmtime's compilers turns components into machine code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compiler {
    /// Cranelift, the optimizing compiler: the fastest predictions, and a
    /// first load of a model's component that takes seconds (every
    /// component carries the whole engine's code).
    #[default]
    Cranelift,
    /// Winch, wasmtime's baseline compiler: compiles a component about
    /// four times as fast as Cranelift, and its code predicts about half
    /// as fast (x86-64 with AVX only; no relaxed SIMD, so not components
    /// built with `--relaxed-simd`). Worth it where a component is loaded
    /// more often than it is called (development, short-lived hosts).
    /// Compiled functions are not shared between components
    /// ([`RuntimeOptions::reuse_compiled_functions`] is Cranelift's).
    Winch,
}

impl Compiler {
    /// Why this compiler cannot compile `wasm` on this machine, if it
    /// cannot; Cranelift compiles every component.
    pub fn cannot_compile(self, wasm: &[u8]) -> Option<String> {
        match self {
            Compiler::Cranelift => None,
            Compiler::Winch if !winch_runs_here() => {
                Some("Winch compiles SIMD code for x86-64 with AVX2 only".into())
            }
            Compiler::Winch if crate::inspect::needs_relaxed_simd(wasm).unwrap_or(false) => {
                Some("the component uses relaxed SIMD (it was built with --relaxed-simd)".into())
            }
            Compiler::Winch => None,
        }
    }
}

/// Whether Winch compiles the engines' SIMD code on this CPU.
fn winch_runs_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// How to set up a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    pub limits: Limits,
    /// The compiler that makes machine code of components. The compile
    /// cache keeps each compiler's code apart.
    pub compiler: Compiler,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache: Option<CompileCache>,
    /// Reserve memory up front for this many instances alive at once
    /// (wasmtime's pooling allocator), which makes creating an instance
    /// cheaper: its memory slot is reused, not mapped anew (on Linux 6.7
    /// and later, the pages the last instance wrote are reset and stay
    /// mapped, up to 64 MiB per slot). An instance beyond that many fails
    /// to start with an error saying so, so size it to the concurrency the
    /// host allows. `None`: map each instance's memory when it starts (no
    /// limit on their number).
    pub pooled_instances: Option<u32>,
    /// Keep every function Cranelift compiles in memory, for the life of
    /// the runtime, and reuse it when another component has the same
    /// function. With a compile cache, compiled functions are reused
    /// anyway, from disk (every model component carries the same engine
    /// code, so a new model compiles in a fraction of the time), and let go
    /// after each compile; keeping them costs their memory (tens of MB)
    /// and saves reading them again, worth it for a process that compiles
    /// many models (the tests), not for one that serves one.
    pub reuse_compiled_functions: bool,
}

/// A wasmtime engine set up for model components.
///
/// Clones share the engine, the caches and the epoch ticker (what
/// interrupts calls that run too long), which lives as long as any clone or
/// loaded model.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    engine: Engine,
    compiler: Compiler,
    pub(crate) limits: Limits,
    cache: Option<CompileCache>,
    functions: Option<Arc<FunctionCache>>,
    /// Stops advancing the epoch when the last user is gone.
    _ticker: EpochTicker,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> Result<Runtime, Error> {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        if options.compiler == Compiler::Winch {
            config.strategy(wasmtime::Strategy::Winch);
        }
        // Compiled functions reused across components: on disk beside the
        // compile cache, and in memory if asked (see `function_cache`).
        // Cranelift's incremental compilation is what finds them.
        let incremental = options.compiler == Compiler::Cranelift
            && (options.cache.is_some() || options.reuse_compiled_functions);
        let functions = incremental.then(|| {
            Arc::new(FunctionCache::new(
                options.cache.as_ref().map(|c| c.dir().to_owned()),
                options.reuse_compiled_functions,
            ))
        });
        if let Some(functions) = &functions {
            config
                .enable_incremental_compilation(
                    Arc::clone(functions) as Arc<dyn wasmtime::CacheStore>
                )
                .map_err(Error::Wasmtime)?;
        }
        if let Some(instances) = options.pooled_instances {
            config.allocation_strategy(pooling(instances, options.limits));
        }
        #[cfg(feature = "profiling")]
        config.profiler(profiler()?);
        let engine = Engine::new(&config).map_err(Error::Wasmtime)?;
        if let Some(functions) = &functions {
            functions.bind(engine.precompile_compatibility_hash());
        }
        let ticker = EpochTicker::start(&engine)?;
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                compiler: options.compiler,
                limits: options.limits,
                cache: options.cache,
                functions,
                _ticker: ticker,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Whether loading `wasm` would take its compiled code from the compile
    /// cache rather than compile it (a damaged entry is compiled again,
    /// when it is loaded).
    pub fn holds_compiled(&self, wasm: &[u8]) -> bool {
        self.shared
            .cache
            .as_ref()
            .is_some_and(|cache| cache.holds(&self.shared.engine, wasm))
    }

    /// Compiles (or loads from the cache) a core module or a component,
    /// calling `compiling` first when it has to compile.
    pub(crate) fn compile<T: crate::cache::Compiled>(
        &self,
        wasm: &[u8],
        compiling: impl FnOnce(),
    ) -> Result<T, Error> {
        let compiled = match &self.shared.cache {
            Some(cache) => cache.load(&self.shared.engine, wasm, compiling),
            None => {
                compiling();
                T::compile(&self.shared.engine, wasm).map_err(Error::Wasmtime)
            }
        };
        let compiled = compiled.map_err(|e| match e {
            Error::Wasmtime(_)
                if self.shared.compiler == Compiler::Winch
                    && crate::inspect::needs_relaxed_simd(wasm).unwrap_or(false) =>
            {
                Error::CompilerCannot {
                    compiler: "Winch",
                    reason: "the component uses relaxed SIMD (it was built with \
                             --relaxed-simd); Cranelift compiles it"
                        .into(),
                }
            }
            e => e,
        });
        // Only components' functions are worth keeping on disk: the
        // builder's engine module (instrumented for Wizer) compiles to other
        // functions, and is cached whole anyway.
        self.finish_compile(T::IS_COMPONENT);
        compiled
    }

    /// Ends a compile for the store of compiled functions (see
    /// `function_cache`): keeps the new ones on disk if `persist`.
    pub(crate) fn finish_compile(&self, persist: bool) {
        if let Some(functions) = &self.shared.functions {
            functions.finish_compile(persist);
        }
    }

    /// Compiles (or takes from the compile cache) any component for this
    /// runtime's engine, calling `compiling` first if it has to compile.
    /// For hosts of other worlds than the predictor's (the HTTP server of
    /// `wasmodel-cli`), which then instantiate it with their own linker and
    /// a [`CallState`] in each store.
    pub fn compile_component(
        &self,
        wasm: &[u8],
        compiling: impl FnOnce(),
    ) -> Result<Component, Error> {
        self.compile(wasm, compiling)
    }

    /// Loads a model component from a file.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<LoadedModel, Error> {
        let path = path.as_ref();
        let wasm = std::fs::read(path).map_err(Error::file(path))?;
        self.load(&wasm)
    }

    /// Loads a model component: compiles it (or takes it from the cache),
    /// checks it exports the `predictor` interface, pre-instantiates it and
    /// reads its metadata.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedModel, Error> {
        self.load_reporting(wasm, || {})
    }

    /// [`load`](Self::load), calling `compiling` first if the component is
    /// not in the compile cache (compiling a model component takes seconds
    /// to tens of seconds, worth telling a user about).
    pub fn load_reporting(
        &self,
        wasm: &[u8],
        compiling: impl FnOnce(),
    ) -> Result<LoadedModel, Error> {
        if !wasmparser::Parser::is_component(wasm) {
            return Err(Error::NotAModelComponent(
                match crate::build_record::read_model(wasm) {
                    // A `--target fastly` build: a core module with our record.
                    Some(model) if wasmparser::Parser::is_core_wasm(wasm) => format!(
                        "it is a Fastly Compute module (model {} version {}): serve it with \
                         `viceroy serve` or `fastly compute serve --file`, or build a component \
                         from the ONNX file",
                        model.name, model.version
                    ),
                    _ => {
                        "the file is not a WebAssembly component (build one with `wasmodel build`)"
                            .into()
                    }
                },
            ));
        }
        // Refuse the wrong kind of component before compiling it (seconds).
        let interfaces = crate::inspect::Interfaces::of(wasm)?;
        check_predictor_exports(&interfaces.exports)?;
        let component: Component = self.compile(wasm, compiling)?;
        self.finish_load(component, interfaces)
    }

    /// Pre-instantiates a compiled model component and reads its metadata.
    pub(crate) fn finish_load(
        &self,
        component: Component,
        interfaces: crate::inspect::Interfaces,
    ) -> Result<LoadedModel, Error> {
        let linker = Linker::<CallState>::new(&self.shared.engine);
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            Error::NotAModelComponent(format!(
                "it imports something this host does not provide: {e:#}"
            ))
        })?;
        let pre =
            ModelPre::new(instance_pre).map_err(|e| Error::NotAModelComponent(format!("{e:#}")))?;
        // Filled in by the component itself, through its first call.
        let mut model = LoadedModel {
            pre,
            interfaces,
            info: ModelInfo::default(),
            shared: Arc::clone(&self.shared),
        };
        model.info = model.instance()?.call(|bindings, store| {
            bindings
                .wasmodel_model_predictor()
                .call_metadata(store)
                .map(bindings::model_info)
        })?;
        Ok(model)
    }
}

/// Refuses a component that is not a model predictor of this wasmodel's
/// interface, saying what it is instead.
pub(crate) fn check_predictor_exports(exports: &[String]) -> Result<(), Error> {
    let exports_any = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
    if let Some(old) = exports
        .iter()
        .find(|e| e.starts_with("wasmodel:model/predictor@") && *e != PREDICTOR_INTERFACE)
    {
        return Err(Error::NotAModelComponent(format!(
            "it was built by another version of wasmodel: it exports {old}, this wasmodel \
                 runs {PREDICTOR_INTERFACE}; rebuild it from its ONNX file with `wasmodel build`"
        )));
    }
    if !exports_any("wasmodel:model/predictor@") {
        return Err(Error::NotAModelComponent(
            if exports_any("wasi:http/incoming-handler@") {
                "it is an HTTP component: serve it with `wasmodel serve`, Spin or `wasmtime serve`"
                    .to_string()
            } else {
                format!(
                    "it does not export wasmodel:model/predictor (it exports: {}); build one with `wasmodel build`",
                    exports.join(", ")
                )
            },
        ));
    }
    Ok(())
}

/// The profiler `WASMODEL_PROFILE` asks for: `perfmap` (symbols for `perf
/// report`), `jitdump` (`perf inject --jit`), or none.
#[cfg(feature = "profiling")]
fn profiler() -> Result<wasmtime::ProfilingStrategy, Error> {
    use wasmtime::ProfilingStrategy;
    match std::env::var("WASMODEL_PROFILE").as_deref() {
        Err(_) | Ok("" | "none") => Ok(ProfilingStrategy::None),
        Ok("perfmap") => Ok(ProfilingStrategy::PerfMap),
        Ok("jitdump") => Ok(ProfilingStrategy::JitDump),
        Ok(other) => Err(Error::Wasmtime(wasmtime::Error::msg(format!(
            "WASMODEL_PROFILE={other}: expected perfmap, jitdump or none"
        )))),
    }
}

/// The pooling allocator's configuration for `instances` model instances
/// at once, each within `limits`.
fn pooling(instances: u32, limits: Limits) -> wasmtime::InstanceAllocationStrategy {
    // A slot is handed back by resetting its memory to the component's
    // image. Where Linux says which pages were written (PAGEMAP_SCAN, 6.7
    // and later), only those are copied back, up to 64 MiB of them, and the
    // slot keeps them mapped: no `madvise` (whose TLB flushes interrupt
    // every thread of the server) and no page faults on the next request;
    // `wasmodel serve` answered wine_mlp 2.6x as fast this way. Elsewhere
    // the first `keep_resident` bytes are reset whether written or not, so
    // only the first MiB is.
    let keep_resident = if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        64 << 20
    } else {
        1 << 20
    };
    // A predictor has one core instance, with one memory and one table; an
    // HTTP component's adapter and its shims add a few more of each.
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .max_memory_size(limits.max_memory)
        .linear_memory_keep_resident(keep_resident.min(limits.max_memory))
        .pagemap_scan(wasmtime::Enabled::Auto)
        .table_keep_resident(1 << 16);
    wasmtime::InstanceAllocationStrategy::Pooling(pool)
}

/// A model component ready to be called, as many times as needed, from
/// many threads.
pub struct LoadedModel {
    pre: ModelPre<CallState>,
    interfaces: crate::inspect::Interfaces,
    info: ModelInfo,
    shared: Arc<Shared>,
}

impl LoadedModel {
    /// What the component reports about its model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// What the component imports and exports.
    pub fn interfaces(&self) -> &crate::inspect::Interfaces {
        &self.interfaces
    }

    /// Runs the model in a fresh instance, which is dropped afterwards:
    /// nothing one call does can be seen by the next.
    ///
    /// The caller's mistakes come back as [`Error::Predict`] with
    /// [`PredictError::InvalidInput`]: which input, expected and got.
    pub fn predict(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        self.instance()?.predict(inputs)
    }

    /// A fresh instance of the component, in a store of its own with the
    /// runtime's limits, for several calls in a row (see [`ModelInstance`]).
    pub fn instance(&self) -> Result<ModelInstance<'_>, Error> {
        let limits = self.shared.limits;
        let mut store = Store::new(&self.shared.engine, CallState::new(limits.max_memory));
        store.limiter(|state| state);
        set_deadline(&mut store, limits);
        vector_state::clear_upper_state();
        match self.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(ModelInstance {
                model: self,
                store,
                bindings,
            }),
            Err(e) => Err(classify(e, store.data(), limits)),
        }
    }
}

/// One instance of a model component, kept between calls: the state a call
/// leaves in its memory is there for the next one (a parse-per-instance
/// build parses on the first call only; memory grown stays grown). The
/// memory limit holds for the instance's whole life, the time limit for
/// each call.
///
/// After a call fails with anything other than [`Error::Predict`] (a trap,
/// a timeout, the memory limit), the instance cannot be entered again: make
/// a new one.
pub struct ModelInstance<'m> {
    model: &'m LoadedModel,
    store: Store<CallState>,
    bindings: bindings::ModelBindings,
}

impl ModelInstance<'_> {
    /// Runs the model on `inputs` in this instance; see
    /// [`LoadedModel::predict`].
    pub fn predict(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let limit = self.model.shared.limits.max_input_bytes;
        if let Some(t) = inputs.iter().find(|t| t.data.byte_len() > limit) {
            return Err(Error::Predict(PredictError::InvalidInput(InputError::new(
                InputErrorKind::TooLarge,
                &t.name,
                format!("at most {limit} bytes"),
                format!("{} bytes", t.data.byte_len()),
            ))));
        }
        let inputs: Vec<_> = inputs.into_iter().map(bindings::tensor_to_wit).collect();
        let result = self.call(|bindings, store| {
            bindings
                .wasmodel_model_predictor()
                .call_predict(store, &inputs)
        })?;
        match result {
            Ok(outputs) => Ok(outputs.into_iter().map(bindings::tensor_from_wit).collect()),
            Err(e) => Err(Error::Predict(bindings::predict_error(e))),
        }
    }

    /// Bytes of linear memory this instance has: the component's memory
    /// image, plus what its calls grew it by (wasm memory never shrinks).
    /// What the memory limit is compared with; pages never touched take
    /// no physical memory.
    pub fn memory_size(&self) -> usize {
        self.store.data().memory
    }

    /// Runs `f` with a fresh time limit.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&bindings::ModelBindings, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, Error> {
        let limits = self.model.shared.limits;
        set_deadline(&mut self.store, limits);
        vector_state::clear_upper_state();
        f(&self.bindings, &mut self.store).map_err(|e| classify(e, self.store.data(), limits))
    }
}

pub(crate) fn set_deadline(store: &mut Store<CallState>, limits: Limits) {
    let ticks = limits.timeout.as_millis() / EPOCH_TICK.as_millis();
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
}

/// Turns a wasmtime failure into the error that says what happened.
pub(crate) fn classify(e: wasmtime::Error, state: &CallState, limits: Limits) -> Error {
    if state.memory_denied {
        return Error::MemoryLimit {
            limit: limits.max_memory,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Error::Timeout {
            seconds: limits.timeout.as_secs_f64(),
        },
        Some(_) => Error::Trap(format!("{e:#}")),
        None => Error::Wasmtime(e),
    }
}

/// Per-call store data: the memory limit, whether it was hit, and how much
/// linear memory the instance has. A host of its own world keeps one in its
/// `Store` as the store's limiter (`store.limiter(|s| &mut s.call)`), and
/// turns a failed call into an [`Error`] with [`CallState::error`].
pub struct CallState {
    max_memory: usize,
    memory_denied: bool,
    /// Bytes of linear memory, over all the instance's memories.
    memory: usize,
}

impl CallState {
    /// Limits the instance's linear memory to `max_memory` bytes.
    pub fn new(max_memory: usize) -> CallState {
        CallState {
            max_memory,
            memory_denied: false,
            memory: 0,
        }
    }

    /// Bytes of linear memory the instance has (memories only grow).
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// What a failed call in this store was: over the memory limit, over
    /// the time limit (an epoch interrupt), a trap, or wasmtime's own error.
    pub fn error(&self, e: wasmtime::Error, limits: Limits) -> Error {
        classify(e, self, limits)
    }
}

impl ResourceLimiter for CallState {
    // Also asked for each memory's initial size when instantiating
    // (`current` 0).
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_denied = true;
            return Ok(false);
        }
        self.memory += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A thread that advances the engine's epoch, which is how calls that run
/// too long are interrupted.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Result<EpochTicker, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("wasmodel-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?
        };
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
