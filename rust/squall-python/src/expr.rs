//! Bindings for expressions (`squall_core::expr`): the Python `squall.col(...)` builds one of
//! these with its operators, and plans take them for filters and computed columns.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use squall_core::expr::{BinaryOp, Expr as CoreExpr, Literal};

use crate::errors::exec_error;

/// An expression over a batch's columns.
#[pyclass(frozen, module = "squall._native")]
#[derive(Clone)]
pub struct Expr {
    pub(crate) inner: CoreExpr,
}

#[pymethods]
impl Expr {
    /// The column `name`.
    #[staticmethod]
    fn column(name: String) -> Expr {
        Expr { inner: CoreExpr::Column { name } }
    }

    /// A literal: a bool, int, float, str or None.
    #[staticmethod]
    fn literal(value: &Bound<'_, PyAny>) -> PyResult<Expr> {
        Ok(Expr { inner: CoreExpr::Literal { value: literal_of(value)? } })
    }

    /// The number negated (`-self`).
    fn neg(&self) -> Expr {
        Expr { inner: CoreExpr::Neg { expr: Box::new(self.inner.clone()) } }
    }

    /// The number without its sign (`abs(self)`).
    fn abs(&self) -> Expr {
        Expr { inner: CoreExpr::Abs { expr: Box::new(self.inner.clone()) } }
    }

    /// Whether each value is one of `values` (bools, ints, floats or strs; not None).
    fn is_in(&self, values: Vec<Bound<'_, PyAny>>) -> PyResult<Expr> {
        let values = values.iter().map(literal_of).collect::<PyResult<Vec<_>>>()?;
        if values.contains(&Literal::Null) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{}.is_in(...) was given None, which no value equals: add `| col.is_null()` to keep nulls",
                self.inner
            )));
        }
        Ok(Expr { inner: CoreExpr::IsIn { expr: Box::new(self.inner.clone()), values } })
    }

    /// `self op other`, `op` one of + - * / % // == != < <= > >= & |; with `ieee`, floats compare
    /// as IEEE 754 says (pyarrow's way) instead of by their total order.
    #[pyo3(signature = (op, other, ieee=false))]
    fn binary(&self, py: Python<'_>, op: &str, other: &Expr, ieee: bool) -> PyResult<Expr> {
        let op = BinaryOp::named(op).map_err(|e| exec_error(py, e.into()))?;
        let (left, right) = (Box::new(self.inner.clone()), Box::new(other.inner.clone()));
        Ok(Expr { inner: CoreExpr::Binary { op, left, right, ieee } })
    }

    /// Logical negation.
    fn negate(&self) -> Expr {
        Expr { inner: CoreExpr::Not { expr: Box::new(self.inner.clone()) } }
    }

    /// Whether each value is null.
    fn is_null(&self) -> Expr {
        Expr { inner: CoreExpr::IsNull { expr: Box::new(self.inner.clone()) } }
    }

    /// The column it is, if it is a bare column.
    #[getter]
    fn column_name(&self) -> Option<String> {
        match &self.inner {
            CoreExpr::Column { name } => Some(name.clone()),
            _ => None,
        }
    }

    /// The columns it reads.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.columns()
    }

    fn __repr__(&self) -> String {
        self.inner.to_string()
    }
}

/// A Python value as a literal: a bool, int, float, str or None.
fn literal_of(value: &Bound<'_, PyAny>) -> PyResult<Literal> {
    let value = if value.is_none() {
        Literal::Null
    } else if value.is_instance_of::<PyBool>() {
        Literal::Bool(value.extract()?)
    } else if value.is_instance_of::<PyInt>() {
        Literal::Int(value.extract().map_err(|_| PyTypeError::new_err(format!("{value} does not fit in 64 bits")))?)
    } else if value.is_instance_of::<PyFloat>() {
        Literal::Float(value.extract()?)
    } else if value.is_instance_of::<PyString>() {
        Literal::Str(value.extract()?)
    } else {
        let kind = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "expressions take bool, int, float, str or None literals, not {kind} ({value})"
        )));
    };
    Ok(value)
}
