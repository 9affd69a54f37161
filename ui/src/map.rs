//! The incidents map: Leaflet with marker clustering, both bundled from npm (see
//! `index.html`). Tiles come from a configurable URL (OpenStreetMap by default); without
//! them (offline) the incidents still show, on a plain background.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
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
    /// Takes the map out of its element, with its layers and handlers.
    #[wasm_bindgen(method)]
    fn remove(this: &LeafletMap) -> LeafletMap;

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
    #[wasm_bindgen(method, js_name = on)]
    fn on_layer(this: &Layer, event: &str, handler: &js_sys::Function) -> Layer;
    #[wasm_bindgen(method, js_name = setLatLng)]
    fn set_lat_lng(this: &Layer, centre: &JsValue) -> Layer;
    #[wasm_bindgen(method, js_name = clearLayers)]
    fn clear_layers(this: &Layer) -> Layer;
    #[wasm_bindgen(method, js_name = addLayer)]
    fn add_to_group(this: &Layer, layer: &Layer) -> Layer;

    #[wasm_bindgen(js_namespace = L, js_name = layerGroup)]
    fn layer_group() -> Layer;
    /// A layer group that knows its bounds.
    #[wasm_bindgen(js_namespace = L, js_name = featureGroup)]
    fn feature_group() -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = circle)]
    fn circle(centre: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = polygon)]
    fn polygon(corners: &JsValue, options: &JsValue) -> Layer;

    #[wasm_bindgen(method, js_name = on)]
    fn on(this: &LeafletMap, event: &str, handler: &js_sys::Function) -> LeafletMap;
    #[wasm_bindgen(method, js_name = getBounds)]
    fn view_bounds(this: &LeafletMap) -> Bounds;
    #[wasm_bindgen(method, js_name = getZoom)]
    fn zoom(this: &LeafletMap) -> f64;

    /// `L.LatLngBounds`.
    type Bounds;
    #[wasm_bindgen(method, js_name = getWest)]
    fn west(this: &Bounds) -> f64;
    #[wasm_bindgen(method, js_name = getSouth)]
    fn south(this: &Bounds) -> f64;
    #[wasm_bindgen(method, js_name = getEast)]
    fn east(this: &Bounds) -> f64;
    #[wasm_bindgen(method, js_name = getNorth)]
    fn north(this: &Bounds) -> f64;
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

/// Where maps open before they know better: Toronto, whose open data Vigil starts with.
const HOME: (f64, f64, u8) = (43.7, -79.4, 11);

/// A Leaflet map in `element` with tiles from `tiles`, kept on the element as `vigilMap`
/// (the end-to-end test drives it through that).
fn base_map(element: &JsValue, tiles: &str) -> LeafletMap {
    // Leptos keeps the element when the view is drawn again with new data (another
    // filter): the map drawn before goes first, or Leaflet would refuse the element.
    let key = JsValue::from_str("vigilMap");
    if let Ok(old) = js_sys::Reflect::get(element, &key)
        && old.is_object()
    {
        old.unchecked_into::<LeafletMap>().remove();
    }
    let map = new_map(element, &object(serde_json::json!({"preferCanvas": true})));
    map.set_view(&point(HOME.0, HOME.1), HOME.2);
    tile_layer(
        tiles,
        &object(serde_json::json!({
            "maxZoom": 19,
            "attribution": "© OpenStreetMap contributors",
        })),
    )
    .add_to_map(&map);
    let _ = js_sys::Reflect::set(element, &key, &map);
    map
}

/// Runs `draw` with the element of `node` once it is laid out, if Leaflet loaded.
fn when_laid_out(node: NodeRef<leptos::html::Div>, draw: impl Fn(JsValue) + Clone + 'static) {
    Effect::new(move |_| {
        let Some(element) = node.get() else {
            return;
        };
        if !leaflet_present() {
            return;
        }
        let draw = draw.clone();
        // After the next layout, when the element is in the page and has its size.
        request_animation_frame(move || draw(element.into()));
    });
}

/// `(lat, lon)` of a Leaflet mouse event.
fn event_point(e: &JsValue) -> Option<(f64, f64)> {
    let latlng = js_sys::Reflect::get(e, &JsValue::from_str("latlng")).ok()?;
    let lat = js_sys::Reflect::get(&latlng, &JsValue::from_str("lat"))
        .ok()?
        .as_f64()?;
    let lon = js_sys::Reflect::get(&latlng, &JsValue::from_str("lng"))
        .ok()?
        .as_f64()?;
    Some((lat, lon))
}

/// The map of `incidents` with tiles from `tiles`; `label` names a category and
/// `on_select` gets the id of a clicked incident.
#[component]
pub fn IncidentMap(
    incidents: Vec<Incident>,
    tiles: String,
    label: Callback<String, String>,
    on_select: Callback<String>,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    when_laid_out(node, move |element| {
        draw(&element, &incidents, &tiles, label, on_select)
    });
    view! { <div id="map" class="map" node_ref=node role="img" aria-label="Map of the incidents listed below"></div> }
}

/// Makes the map in `element` and puts the incidents on it, clustered.
fn draw(
    element: &JsValue,
    incidents: &[Incident],
    tiles: &str,
    label: Callback<String, String>,
    on_select: Callback<String>,
) {
    let map = base_map(element, tiles);
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
        let id = i.id.clone();
        let open = Closure::<dyn Fn()>::new(move || on_select.run(id.clone()));
        marker.on_layer("click", open.as_ref().unchecked_ref());
        // Lives as long as the marker, which lives as long as the page's map.
        open.forget();
        markers.push(&marker);
    }
    // The view first, fitted to the incidents' own box without animation, so the
    // clusters are made once, for the zoom they are shown at.
    let lats = incidents.iter().map(|i| i.location.lat);
    let lons = incidents.iter().map(|i| i.location.lon);
    if !incidents.is_empty() {
        let (south, north) = (
            lats.clone().fold(f64::MAX, f64::min),
            lats.fold(f64::MIN, f64::max),
        );
        let (west, east) = (
            lons.clone().fold(f64::MAX, f64::min),
            lons.fold(f64::MIN, f64::max),
        );
        map.fit_bounds(
            &js_sys::Array::of2(&point(south, west), &point(north, east)),
            &object(serde_json::json!({"padding": [20, 20], "maxZoom": 16, "animate": false})),
        );
    }
    map.add_layer(&group);
    group.add_layers(&markers);
}

/// A map to point at where something happened: a click calls `on_pick` with the point,
/// and a dot shows the point in `at` (also when it was typed or found).
#[component]
pub fn PickMap(
    tiles: String,
    at: Signal<Option<(f64, f64)>>,
    on_pick: Callback<(f64, f64)>,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    let dot = StoredValue::new_local(None::<(LeafletMap, Layer)>);
    when_laid_out(node, move |element| {
        let map = base_map(&element, &tiles);
        let pick = Closure::<dyn Fn(JsValue)>::new(move |e: JsValue| {
            if let Some(p) = event_point(&e) {
                on_pick.run(p);
            }
        });
        map.on("click", pick.as_ref().unchecked_ref());
        pick.forget();
        let group = layer_group();
        map.add_layer(&group);
        dot.set_value(Some((map, group)));
    });
    // Moves the dot whenever the point changes, however it was set.
    Effect::new(move |_| {
        let here = at.get();
        dot.with_value(|d| {
            let Some((map, group)) = d else { return };
            group.clear_layers();
            if let Some((lat, lon)) = here {
                let marker = circle_marker(
                    &point(lat, lon),
                    &object(serde_json::json!({"radius": 8, "color": "#b45309", "weight": 3, "fillOpacity": 0.8})),
                );
                group.add_to_group(&marker);
                if map.zoom() < 14.0 {
                    map.set_view(&point(lat, lon), 15);
                }
            }
        });
    });
    view! {
        <div id="pick-map" class="map pick" node_ref=node role="img"
            aria-label="Map: click where it happened; the latitude and longitude fields below do the same"></div>
    }
}

/// Watch areas on a map: the saved ones in blue, and the one being drawn in orange. A
/// click calls `on_click` (the screen sets a circle's centre or adds a polygon's corner);
/// the form's fields are the keyboard path to the same.
#[component]
pub fn AreaMap(
    tiles: String,
    saved: Vec<crate::invoke::Shape>,
    drawing: Signal<Option<crate::invoke::Shape>>,
    on_click: Callback<(f64, f64)>,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    let layer = StoredValue::new_local(None::<Layer>);
    when_laid_out(node, move |element| {
        let map = base_map(&element, &tiles);
        let all = feature_group();
        for s in &saved {
            all.add_to_group(&shape_layer(s, "#17327a"));
        }
        map.add_layer(&all);
        if !saved.is_empty() {
            map.fit_bounds(
                &all.get_bounds(),
                &object(serde_json::json!({"padding": [20, 20], "maxZoom": 15})),
            );
        }
        let click = Closure::<dyn Fn(JsValue)>::new(move |e: JsValue| {
            if let Some(p) = event_point(&e) {
                on_click.run(p);
            }
        });
        map.on("click", click.as_ref().unchecked_ref());
        click.forget();
        let group = layer_group();
        map.add_layer(&group);
        layer.set_value(Some(group));
    });
    Effect::new(move |_| {
        let shape = drawing.get();
        layer.with_value(|group| {
            let Some(group) = group else { return };
            group.clear_layers();
            if let Some(shape) = &shape {
                group.add_to_group(&shape_layer(shape, "#b45309"));
            }
        });
    });
    view! {
        <div id="area-map" class="map areas-map" node_ref=node role="img"
            aria-label="Map of the watch areas: click to set a circle's centre or add a polygon's corner; the fields below do the same"></div>
    }
}

/// A watch area's shape as a Leaflet layer.
fn shape_layer(shape: &crate::invoke::Shape, colour: &str) -> Layer {
    let style = |extra: serde_json::Value| {
        let mut o = serde_json::json!({"color": colour, "weight": 2, "fillOpacity": 0.15});
        if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
            o.extend(extra.clone());
        }
        object(o)
    };
    match shape {
        crate::invoke::Shape::Circle { lat, lon, radius_m } => circle(
            &point(*lat, *lon),
            &style(serde_json::json!({"radius": radius_m.max(1.0)})),
        ),
        crate::invoke::Shape::Polygon { points } => {
            let corners = js_sys::Array::new();
            for [lat, lon] in points {
                corners.push(&point(*lat, *lon));
            }
            polygon(&corners, &style(serde_json::json!({})))
        }
    }
}

/// The heat map: each cell a disc whose colour says how many incidents it had. Calls
/// `on_view` with `[west, south, east, north]` once drawn and after every pan or zoom.
#[component]
pub fn HeatMap(
    tiles: String,
    cells: Signal<Vec<crate::invoke::HeatCell>>,
    res: Signal<u8>,
    on_view: Callback<[f64; 4]>,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    let layer = StoredValue::new_local(None::<Layer>);
    when_laid_out(node, move |element| {
        let map = base_map(&element, &tiles);
        let group = layer_group();
        map.add_layer(&group);
        layer.set_value(Some(group));
        let report = {
            let map: LeafletMap = JsValue::clone(&map).unchecked_into();
            move || {
                let b = map.view_bounds();
                on_view.run([b.west(), b.south(), b.east(), b.north()]);
            }
        };
        report();
        let moved = Closure::<dyn Fn()>::new(report);
        map.on("moveend", moved.as_ref().unchecked_ref());
        moved.forget();
    });
    Effect::new(move |_| {
        let cells = cells.get();
        let radius = if res.get() == 8 { 300.0 } else { 2_000.0 };
        layer.with_value(|group| {
            let Some(group) = group else { return };
            group.clear_layers();
            let max = cells.iter().map(|c| c.count).max().unwrap_or(0);
            for c in &cells {
                let shade = crate::charts::shade(c.count, max);
                let disc = circle(
                    &point(c.lat, c.lon),
                    &object(serde_json::json!({
                        "radius": radius, "stroke": false, "fillColor": heat_colour(shade),
                        "fillOpacity": 0.25 + 0.5 * shade, "className": "heat-cell",
                    })),
                );
                disc.bind_tooltip(&format!("{}", c.count));
                group.add_to_group(&disc);
            }
        });
    });
    view! {
        <div id="heat-map" class="map heat" node_ref=node role="img"
            aria-label="Heat map of incidents; the charts and tables below give the numbers"></div>
    }
}

/// Yellow to dark red as `shade` goes from 0 to 1.
fn heat_colour(shade: f64) -> String {
    let t = shade.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(250.0, 127.0),
        lerp(204.0, 29.0),
        lerp(21.0, 29.0)
    )
}

trait AddTo {
    fn add_to_map(&self, map: &LeafletMap);
}

impl AddTo for Layer {
    fn add_to_map(&self, map: &LeafletMap) {
        map.add_layer(self);
    }
}
