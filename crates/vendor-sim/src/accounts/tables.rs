//! The request parameter tables of document 001, as the simulator enforces them (see
//! [`crate::contract`]). Blank-named rows take the spelling of the document's examples:
//! `whatsApp` in account entries, `whatsapp` in the QR-info query.

use crate::contract::{Field, Ty, field};

/// Wake Up Friend Contact Chat Conversation, `data` items. The example sends `type` as `"1"`.
const ACTION_ITEM: &[Field] = &[
    field("agentAccount", Ty::Str),
    field("whatsId", Ty::Str),
    field("friendWhatsId", Ty::Str),
    field("platformType", Ty::Int),
    field("content", Ty::Str),
    field("type", Ty::IntOrNumericString),
];
pub const BATCH_ADD: &[Field] = &[
    field("tenantId", Ty::Int),
    field("data", Ty::ObjList(ACTION_ITEM)),
];
/// Query Wake-up Friend Contact Execution Detail.
pub const CALLBACK_RESULT: &[Field] = &[field("tenantId", Ty::Int), field("data", Ty::StrList)];

const IMPORT_ENTRY: &[Field] = &[
    field("whatsApp", Ty::Str),
    field("avatar", Ty::Str),
    field("name", Ty::Str),
    field("publicKey", Ty::Str),
    field("privateKey", Ty::Str),
    field("msgPublicKey", Ty::Str),
    field("msgPrivateKey", Ty::Str),
    field("accountId", Ty::Str),
    field("nextKeyId", Ty::Str),
    field("registrationId", Ty::Str),
    field("deviceParams", Ty::Str),
    field("whatsappType", Ty::Int),
];
/// Batch Import Customer Service Accounts.
pub const BATCH_INSERT: &[Field] = &[field("whatsAppList", Ty::ObjList(IMPORT_ENTRY))];
const ONLINE_ENTRY: &[Field] = &[
    field("override", Ty::Bool),
    field("whatsApp", Ty::Str),
    field("avatar", Ty::Str),
    field("name", Ty::Str),
    field("publicKey", Ty::Str),
    field("privateKey", Ty::Str),
    field("msgPublicKey", Ty::Str),
    field("msgPrivateKey", Ty::Str),
    field("nextKeyId", Ty::Str),
    field("registrationId", Ty::Str),
    field("accountId", Ty::Str),
    field("deviceParams", Ty::Str),
    field("whatsappType", Ty::Int),
];
/// Batch Online Customer Service Accounts.
pub const BATCH_ONLINE: &[Field] = &[field("whatsAppList", Ty::ObjList(ONLINE_ENTRY))];
/// Batch Recycle Customer Service Accounts: numbers, written as strings in the example.
pub const BATCH_RECYCLE: &[Field] = &[field("whatsAppList", Ty::StrList)];

/// Registration (Submit Phone Number).
pub const SUBMIT_PHONE: &[Field] = &[
    field("phone", Ty::Str),
    field("verifyType", Ty::Int),
    field("accountType", Ty::Int),
    field("areaCode", Ty::Str),
    field("countryCode", Ty::Str),
];
/// Registration (Submit Verification Code).
pub const SUBMIT_CODE: &[Field] = &[
    field("phone", Ty::Str),
    field("areaCode", Ty::Str),
    field("verifyCode", Ty::Str),
];

/// Get QR Code Window ID: `target` is an int in the table and in the example.
pub const PRE_GENERATE: &[Field] = &[field("type", Ty::Int), field("target", Ty::Int)];
/// Get QR Code.
pub const GET_QR_CODE: &[Field] = &[field("id", Ty::Str), field("ipConfig", Ty::Str)];
/// Get QR Code or Pair Code.
pub const GET_QR_CODE_V2: &[Field] = &[
    field("id", Ty::Str),
    field("phone", Ty::Str),
    field("ipConfig", Ty::Str),
    field("isEasy", Ty::Str),
];
/// Get QR Code Information.
pub const GET_QR_CODE_INFO: &[Field] = &[field("id", Ty::Str), field("whatsapp", Ty::Str)];
/// Customer Service Account Online.
pub const ON_LINE: &[Field] = &[field("id", Ty::Str), field("ipConfig", Ty::Str)];
/// Offline, Logout, Profile Information.
pub const ID_ONLY: &[Field] = &[field("id", Ty::Str)];
/// Cloud Port Address Book (`selectContact?id=xxx`).
pub const SELECT_CONTACT_QUERY: &[&str] = &["id"];
/// Cloud Port Contact Information.
pub const CONTACT_INFO: &[Field] = &[field("id", Ty::Str), field("phone", Ty::Str)];
/// Set Avatar and Nickname: `phoneList` is an array of numbers written as strings.
pub const UPDATE_PROFILE: &[Field] = &[
    field("type", Ty::Int),
    field("avatar", Ty::Str),
    field("nickname", Ty::Str),
    field("phoneList", Ty::StrList),
];

/// Create QR Scan Task.
pub const SCAN_TASK_CREATE: &[Field] =
    &[field("userId", Ty::Int), field("allocationRole", Ty::Int)];
/// Get QR Code by Task ID.
pub const SCAN_TASK_QR: &[Field] = &[field("taskId", Ty::Str)];
