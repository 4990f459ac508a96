//! The checks every command with lines makes of them: how many, and each
//! line's SKU and units (placements, shipments, returns, receipts).

use domain::{Quantity, Sku};

use crate::extract::Fields;

/// Most lines one order, shipment, return or receipt may have.
pub(super) const MAX_LINES: usize = 100;

/// Refuses a list of lines that is empty or longer than [`MAX_LINES`].
pub(super) fn check_count<T>(fields: &mut Fields, lines: &[T]) {
    if lines.is_empty() || lines.len() > MAX_LINES {
        fields.reject("lines", format!("must have 1 to {MAX_LINES} lines"));
    }
}

/// Line `i`'s SKU and units, each refused under its own field if malformed.
pub(super) fn sku_and_units(
    fields: &mut Fields,
    i: usize,
    sku: &str,
    units: i64,
) -> Option<(Sku, Quantity)> {
    let sku = fields.check(&format!("lines[{i}].sku"), Sku::parse(sku));
    let quantity = fields.check(&format!("lines[{i}].quantity"), Quantity::new(units));
    sku.zip(quantity)
}
