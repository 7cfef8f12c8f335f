"""Service: complaints and inquiries (客服工单) and the staff's policy look-up."""
