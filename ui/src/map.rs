//! The incidents map: Leaflet with marker clustering, both bundled from npm (see
//! `index.html`). Tiles come from a configurable URL (OpenStreetMap by default); without
//! them (offline) the incidents still show, on a plain background.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::invoke::Incident;

#[wasm_bindgen]
extern "C" {
    /// A Leaflet map (`L.Map`).
    type LeafletMap;
    /// Any Leaflet layer (`L.Layer`).
    type Layer;

    #[wasm_bindgen(js_namespace = L, js_name = map)]
    fn new_map(element: &JsValue, options: &JsValue) -> LeafletMap;
    #[wasm_bindgen(method, js_name = setView)]
    fn set_view(this: &LeafletMap, centre: &JsValue, zoom: u8) -> LeafletMap;
    #[wasm_bindgen(method, js_name = fitBounds)]
    fn fit_bounds(this: &LeafletMap, bounds: &JsValue, options: &JsValue) -> LeafletMap;
    #[wasm_bindgen(method, js_name = addLayer)]
    fn add_layer(this: &LeafletMap, layer: &Layer) -> LeafletMap;

    #[wasm_bindgen(js_namespace = L, js_name = tileLayer)]
    fn tile_layer(url: &str, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = markerClusterGroup)]
    fn marker_cluster_group(options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = circleMarker)]
    fn circle_marker(centre: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(method, js_name = bindTooltip)]
    fn bind_tooltip(this: &Layer, text: &str) -> Layer;
    #[wasm_bindgen(method, js_name = addLayers)]
    fn add_layers(this: &Layer, layers: &js_sys::Array) -> Layer;
    #[wasm_bindgen(method, js_name = getBounds)]
    fn get_bounds(this: &Layer) -> JsValue;
}

/// Whether Leaflet loaded (its script is part of the bundle).
fn leaflet_present() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("L"))
        .map(|l| l.is_object())
        .unwrap_or(false)
}

fn object(value: serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::UNDEFINED)
}

fn point(lat: f64, lon: f64) -> JsValue {
    js_sys::Array::of2(&JsValue::from_f64(lat), &JsValue::from_f64(lon)).into()
}

/// The map of `incidents` with tiles from `tiles`; `label` names a category.
#[component]
pub fn IncidentMap(
    incidents: Vec<Incident>,
    tiles: String,
    label: Callback<String, String>,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let Some(element) = node.get() else {
            return;
        };
        if !leaflet_present() {
            return;
        }
        let (incidents, tiles, label) = (incidents.clone(), tiles.clone(), label);
        // After the next layout, when the element is in the page and has its size.
        request_animation_frame(move || draw(&element.into(), &incidents, &tiles, label));
    });
    view! { <div id="map" class="map" node_ref=node role="img" aria-label="Map of the incidents listed below"></div> }
}

/// Makes the map in `element` and puts the incidents on it, clustered.
fn draw(element: &JsValue, incidents: &[Incident], tiles: &str, label: Callback<String, String>) {
    let map = new_map(element, &object(serde_json::json!({"preferCanvas": true})));
    map.set_view(&point(43.7, -79.4), 11);
    tile_layer(
        tiles,
        &object(serde_json::json!({
            "maxZoom": 19,
            "attribution": "© OpenStreetMap contributors",
        })),
    )
    .add_to_map(&map);
    let group = marker_cluster_group(&object(serde_json::json!({"chunkedLoading": true})));
    let markers = js_sys::Array::new();
    for i in incidents {
        let marker = circle_marker(
            &point(i.location.lat, i.location.lon),
            &object(serde_json::json!({
                "radius": 6,
                "color": if i.source.kind == "feed" { "#17327a" } else { "#b45309" },
                "weight": 2,
                "fillOpacity": 0.6,
            })),
        );
        // Leaflet puts a tooltip's text in as HTML: escape what came from the network.
        marker.bind_tooltip(&crate::text::escape_html(&format!(
            "{}: {}",
            label.run(i.category.clone()),
            i.occurred_at
        )));
        markers.push(&marker);
    }
    map.add_layer(&group);
    group.add_layers(&markers);
    if !incidents.is_empty() {
        map.fit_bounds(
            &group.get_bounds(),
            &object(serde_json::json!({"padding": [20, 20]})),
        );
    }
}

trait AddTo {
    fn add_to_map(&self, map: &LeafletMap);
}

impl AddTo for Layer {
    fn add_to_map(&self, map: &LeafletMap) {
        map.add_layer(self);
    }
}
