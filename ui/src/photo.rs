//! Photos and position from the device: a chosen photo is decoded, drawn smaller on a
//! canvas and encoded again as JPEG before it leaves the page. Re-encoding drops the
//! camera's metadata (where and when it was taken) on the device already; the server
//! strips it again on arrival.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::form::fit_within;

/// The longer side of a photo as sent, in pixels: enough to see what happened, small
/// enough to send over a phone connection (typically 150–400 KB).
pub const LONGEST_SIDE: u32 = 1600;
/// JPEG quality for the re-encoded photo.
const QUALITY: f64 = 0.85;

/// A photo ready to attach.
pub struct Resized {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn js_error(value: JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "the browser could not read it".to_owned())
}

/// Decodes `file`, scales it to fit [`LONGEST_SIDE`] and encodes it as JPEG.
pub async fn resize(file: &web_sys::File) -> Result<Resized, String> {
    let window = web_sys::window().ok_or("no window")?;
    let bitmap: web_sys::ImageBitmap = JsFuture::from(
        window
            .create_image_bitmap_with_blob(file)
            .map_err(js_error)?,
    )
    .await
    .map_err(|_| "it is not an image this device can open; choose a JPEG or PNG photo".to_owned())?
    .dyn_into()
    .map_err(|_| "the browser did not decode it".to_owned())?;
    let (width, height) = fit_within(bitmap.width(), bitmap.height(), LONGEST_SIDE);
    let canvas: web_sys::HtmlCanvasElement = window
        .document()
        .ok_or("no document")?
        .create_element("canvas")
        .map_err(js_error)?
        .dyn_into()
        .map_err(|_| "no canvas".to_owned())?;
    canvas.set_width(width);
    canvas.set_height(height);
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(js_error)?
        .ok_or("no 2D canvas")?
        .dyn_into()
        .map_err(|_| "no 2D canvas".to_owned())?;
    // JPEG has no transparency: a white ground rather than black for PNG screenshots.
    context.set_fill_style_str("#ffffff");
    context.fill_rect(0.0, 0.0, f64::from(width), f64::from(height));
    context
        .draw_image_with_image_bitmap_and_dw_and_dh(
            &bitmap,
            0.0,
            0.0,
            f64::from(width),
            f64::from(height),
        )
        .map_err(js_error)?;
    bitmap.close();
    let blob = to_blob(&canvas).await?;
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(js_error)?;
    Ok(Resized {
        bytes: js_sys::Uint8Array::new(&buffer).to_vec(),
        width,
        height,
    })
}

/// `canvas.toBlob` as a future.
async fn to_blob(canvas: &web_sys::HtmlCanvasElement) -> Result<web_sys::Blob, String> {
    let mut failed = None;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let done = Closure::once_into_js(move |blob: JsValue| {
            if blob.is_null() {
                let _ = reject.call1(&JsValue::NULL, &"the photo could not be encoded".into());
            } else {
                let _ = resolve.call1(&JsValue::NULL, &blob);
            }
        });
        if let Err(e) = canvas.to_blob_with_type_and_encoder_options(
            done.unchecked_ref(),
            "image/jpeg",
            &JsValue::from_f64(QUALITY),
        ) {
            failed = Some(js_error(e));
        }
    });
    if let Some(why) = failed {
        return Err(why);
    }
    JsFuture::from(promise)
        .await
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)
}

/// The device's position: `(lat, lon, accuracy in metres)`, or why not.
pub async fn position() -> Result<(f64, f64, f64), String> {
    let geolocation = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .geolocation()
        .map_err(|_| "this device offers no location service".to_owned())?;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let found = Closure::once_into_js(move |p: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &p);
        });
        let refuse = reject.clone();
        let failed = Closure::once_into_js(move |e: JsValue| {
            let _ = refuse.call1(&JsValue::NULL, &e);
        });
        let options = web_sys::PositionOptions::new();
        options.set_enable_high_accuracy(true);
        options.set_timeout(15_000);
        options.set_maximum_age(60_000);
        if let Err(e) = geolocation.get_current_position_with_error_callback_and_options(
            found.unchecked_ref(),
            Some(failed.unchecked_ref()),
            &options,
        ) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    });
    let get =
        |value: &JsValue, key: &str| js_sys::Reflect::get(value, &JsValue::from_str(key)).ok();
    match JsFuture::from(promise).await {
        Ok(p) => {
            let coords = get(&p, "coords").ok_or("no coordinates in the answer")?;
            let number = |key: &str| get(&coords, key).and_then(|v| v.as_f64());
            match (number("latitude"), number("longitude")) {
                (Some(lat), Some(lon)) => Ok((lat, lon, number("accuracy").unwrap_or(0.0))),
                _ => Err("no coordinates in the answer".to_owned()),
            }
        }
        // A GeolocationPositionError: code 1 permission denied, 2 unavailable, 3 timeout.
        Err(e) => Err(match get(&e, "code").and_then(|c| c.as_f64()) {
            Some(1.0) => "permission denied".to_owned(),
            Some(3.0) => "no fix in 15 s".to_owned(),
            _ => get(&e, "message")
                .and_then(|m| m.as_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| js_error(e)),
        }),
    }
}
