export { externalizeMedia, MAX_MEDIA_BYTES, MEDIA_ID, mediaStore, type MediaStore, type StoredMedium } from "./media-store.js";
