// Leptos view types nest deeply; release builds need more room to compute their layouts.
#![recursion_limit = "256"]

//! O-Neko's web application: shared typed models, server functions (the internal API) and the
//! Leptos components. Built twice: with `ssr` into the server binary, with `hydrate` into WASM.

pub mod api;
pub mod components;
pub mod error;
pub mod model;
pub mod pages;
pub mod shell;
#[cfg(feature = "ssr")]
pub mod ssr;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(shell::App);
}
