//! Bindings of Lambda's control plane, used by `squall.deploy`.

use std::collections::HashMap;

use pyo3::prelude::*;
use squall_exec::deploy::{Code, FunctionSpec};
use squall_exec::runtime::runtime;

use crate::errors::exec_error;

/// The package hash recorded on function `name`: "" when untagged, None when it does not exist.
#[pyfunction]
pub fn deployed_hash(py: Python<'_>, name: String) -> PyResult<Option<String>> {
    py.detach(|| runtime()?.block_on(squall_exec::deploy::deployed_hash(&name))).map_err(|e| exec_error(py, e))
}

/// The functions a Lambda session over `function` invokes: its shards, when `squall.deploy`
/// sharded it.
#[pyfunction]
pub fn lambda_functions(py: Python<'_>, function: String) -> PyResult<Vec<String>> {
    py.detach(|| runtime().map(|rt| rt.block_on(squall_exec::deploy::functions_of(&function))))
        .map_err(|e| exec_error(py, e))
}

/// The names of the `shards` functions a deploy called `name` makes.
#[pyfunction]
pub fn shard_names(name: &str, shards: usize) -> Vec<String> {
    squall_exec::deploy::shard_names(name, shards)
}

/// Creates or updates function `name` (and its other `shards`) and waits until they can be
/// invoked; "created" or "updated". The code is `zip` bytes, or the S3 object `s3` = (bucket,
/// key). With `snapstart`, each function's new version is published behind an alias.
#[pyfunction]
#[pyo3(signature = (name, *, runtime_id, architecture, handler, memory_mb, timeout_s, role, hash,
                    environment, reserved_concurrency, shards = 1, snapstart = false, zip = None,
                    s3 = None))]
#[allow(clippy::too_many_arguments)]
pub fn deploy_function(
    py: Python<'_>,
    name: String,
    runtime_id: String,
    architecture: String,
    handler: String,
    memory_mb: i32,
    timeout_s: i32,
    role: String,
    hash: String,
    environment: HashMap<String, String>,
    reserved_concurrency: Option<i32>,
    shards: usize,
    snapstart: bool,
    zip: Option<Vec<u8>>,
    s3: Option<(String, String)>,
) -> PyResult<&'static str> {
    let code = match (zip, s3) {
        (Some(zip), None) => Code::Zip(zip),
        (None, Some((bucket, key))) => Code::S3 { bucket, key },
        _ => return Err(pyo3::exceptions::PyValueError::new_err("pass exactly one of zip= and s3=")),
    };
    let spec = FunctionSpec {
        name,
        runtime: runtime_id,
        architecture,
        handler,
        memory_mb,
        timeout_s,
        role,
        code,
        hash,
        environment,
        reserved_concurrency,
        snapstart,
    };
    py.detach(|| runtime()?.block_on(squall_exec::deploy::deploy_shards(&spec, shards))).map_err(|e| exec_error(py, e))
}

/// Creates IAM role `name` for Lambda (or reuses it) with inline policy `policy` (JSON);
/// returns (ARN, created).
#[pyfunction]
pub fn ensure_role(py: Python<'_>, name: String, policy: String) -> PyResult<(String, bool)> {
    py.detach(|| runtime()?.block_on(squall_exec::deploy::ensure_role(&name, &policy))).map_err(|e| exec_error(py, e))
}
